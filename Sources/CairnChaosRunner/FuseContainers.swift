import CairnChaos
import CairnCore
import Foundation

/// Containers that use a real FUSE mount (`cairn mount … --foreground` started by the harness),
/// and plain file I/O on it. Every mount is unmounted (`cairn unmount`, then `fusermount3 -u`,
/// then `umount -l`) and every daemon killed by pid, even when a step fails.
final class FuseContainers: @unchecked Sendable {
  let executable: String
  let directory: String
  let metaAddresses: [String]
  let volume: String
  let recorder: HistoryRecorder
  let degradedMode: Bool
  private let lock = NSLock()
  private var daemons: [String: ChaosProcess] = [:]

  init(
    executable: String, directory: String, metaAddresses: [String], volume: String, recorder: HistoryRecorder,
    degradedMode: Bool
  ) {
    self.executable = executable
    self.directory = directory
    self.metaAddresses = metaAddresses
    self.volume = volume
    self.recorder = recorder
    self.degradedMode = degradedMode
  }

  /// Degraded mode on or off; on, the FUSE mounts share one node metadata cache.
  var degradedArguments: [String] {
    degradedMode ? ["--degraded", "on", "--metadata-cache-dir", directory + "/node-cache"] : ["--degraded", "off"]
  }

  /// Starts a mount daemon and waits (up to 60 s) until the kernel shows the mount.
  func mount(_ name: String) -> String? {
    let mountpoint = directory + "/\(name)/mnt"
    let cache = directory + "/\(name)/cache"
    let op = recorder.invoke(.mount, process: name) { $0.volume = volume; $0.detail = "fuse" }
    do {
      try makeDirectory(mountpoint)
      let daemon = ChaosProcess(
        name: name, executable: executable,
        arguments: ["mount", volume, mountpoint, "--foreground", "--cache-dir", cache, "--meta", metaAddresses.joined(separator: ",")]
          + degradedArguments,
        logPath: directory + "/\(name)/mount.log")
      try daemon.start()
      lock.withLock { daemons[name] = daemon }
      let deadline = Date().addingTimeInterval(60)
      while !Self.isMounted(mountpoint) {
        guard daemon.isAlive else { throw CairnError(.unavailable, "mount daemon exited: \(daemon.logTail(lines: 2))") }
        guard Date() < deadline else { throw CairnError(.timeout, "not mounted after 60 s") }
        usleep(20_000)
      }
      recorder.complete(op, .ok, kind: .mount, process: name)
      return mountpoint
    } catch {
      recorder.complete(op, .fail, kind: .mount, process: name) { $0.error = describe(error) }
      release(name, mountpoint: mountpoint)
      return nil
    }
  }

  /// Reads the model through the kernel and checks its hash.
  func readModel(_ mountpoint: String, process: String, expected: String) {
    let op = recorder.invoke(.read, process: process) {
      $0.path = Workload.modelPath
      $0.expectedHash = expected
      $0.detail = "fuse"
    }
    // Read on a helper thread with a deadline: a read stuck in the kernel must not hang the run.
    let result = BlockingRead.contents(of: mountpoint + Workload.modelPath, timeoutSeconds: 30)
    switch result {
    case .success(let bytes):
      recorder.complete(op, .ok, kind: .read, process: process) {
        $0.hash = BlockAddress.of(bytes).hex
        $0.path = Workload.modelPath
      }
    case .failure(let message):
      recorder.complete(op, .fail, kind: .read, process: process) { $0.error = message }
    }
  }

  /// Writes a checkpoint file, `cairn commit`, `cairn reload`.
  func commitCheckpoint(_ mountpoint: String, process: String, sequence: Int, seed: UInt64, bytes: Int) {
    let fileName = "\(process)-\(sequence).bin"
    var random = SeededRandom(seed: seed ^ fileName.hashValueStable)
    let content = (0..<bytes).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    let path = "/\(Workload.checkpointDirectory)/\(fileName)"
    let op = recorder.invoke(.commit, process: process) {
      $0.path = path
      $0.hash = BlockAddress.of(content).hex
      $0.volume = volume
      $0.detail = "fuse"
    }
    guard FileManager.default.createFile(atPath: mountpoint + path, contents: Data(content)) else {
      recorder.complete(op, .fail, kind: .commit, process: process) { $0.error = "writing \(path) in the mount failed" }
      return
    }
    let r = ChaosProcess.run(executable, ["commit", mountpoint], timeoutSeconds: 120)
    if r.status == 0, let version = Self.version(in: r.output) {
      recorder.complete(op, .ok, kind: .commit, process: process) { $0.version = version }
    } else if r.status == 9 || r.output.contains("queued:") {
      recorder.complete(op, .info, kind: .commit, process: process) { $0.detail = "queued (degraded mode)" }
      waitForQueue(mountpoint, op: op, process: process)
      return
    } else {
      let unknown = r.output.contains("unknown") || r.status == 124
      recorder.complete(op, unknown ? .unknown : .fail, kind: .commit, process: process) {
        $0.error = r.output.trimmingCharacters(in: .whitespacesAndNewlines)
      }
    }
    let reload = recorder.invoke(.reload, process: process)
    let rr = ChaosProcess.run(executable, ["reload", mountpoint], timeoutSeconds: 60)
    recorder.complete(reload, rr.status == 0 ? .ok : .fail, kind: .reload, process: process) {
      $0.version = Self.version(in: rr.output)
      if rr.status != 0 { $0.error = rr.output.trimmingCharacters(in: .whitespacesAndNewlines) }
    }
  }

  /// Polls `cairn status` until the mount's queue is empty, then records the commit as applied
  /// with the version the mount's last commit produced (bounded: 3 minutes).
  func waitForQueue(_ mountpoint: String, op: Int, process: String) {
    struct Status: Decodable {
      var queuedCommits: Int?
      var lastCommitVersion: UInt64?
    }
    let deadline = Date().addingTimeInterval(180)
    while Date() < deadline {
      let r = ChaosProcess.run(executable, ["status", mountpoint, "--json"], timeoutSeconds: 30)
      if r.status == 0, let start = r.output.firstIndex(of: "{"),
        let s = try? JSONDecoder().decode(Status.self, from: Data(r.output[start...].utf8)), (s.queuedCommits ?? 0) == 0
      {
        recorder.complete(op, .ok, kind: .commit, process: process) { $0.version = s.lastCommitVersion }
        return
      }
      usleep(500_000)
    }
  }

  /// A FUSE container for the whole run.
  func longRunning(_ name: String, commitEverySeconds: Double, until end: Double, hashOfModel: String) {
    var mountpoint: String?
    while mountpoint == nil && recorder.now() < end {
      mountpoint = mount(name)
      if mountpoint == nil { usleep(1_000_000) }
    }
    guard let mountpoint else { return }
    var last = recorder.now()
    var sequence = 0
    while recorder.now() < end {
      readModel(mountpoint, process: name, expected: hashOfModel)
      if recorder.now() - last >= commitEverySeconds {
        sequence += 1
        commitCheckpoint(mountpoint, process: name, sequence: sequence, seed: 0xF05E, bytes: 64 << 10)
        last = recorder.now()
      }
      usleep(200_000)
    }
    unmount(name, mountpoint: mountpoint)
  }

  /// A storm mount: mount, look at the model, unmount.
  func stormMount(_ name: String) {
    guard let mountpoint = mount(name) else { return }
    _ = FileManager.default.fileExists(atPath: mountpoint + Workload.modelPath)
    unmount(name, mountpoint: mountpoint)
  }

  func unmount(_ name: String, mountpoint: String) {
    let op = recorder.invoke(.unmount, process: name)
    let r = ChaosProcess.run(executable, ["unmount", mountpoint], timeoutSeconds: 120)
    recorder.complete(op, r.status == 0 ? .ok : .fail, kind: .unmount, process: name) {
      if r.status != 0 { $0.error = r.output.trimmingCharacters(in: .whitespacesAndNewlines) }
    }
    release(name, mountpoint: mountpoint)
  }

  /// Makes sure the mount is gone and the daemon dead.
  func release(_ name: String, mountpoint: String) {
    let daemon = lock.withLock { daemons.removeValue(forKey: name) }
    if let daemon, !ChaosProcess.waitExit(daemon.pid ?? 0, seconds: 10) { daemon.kill9() }
    Self.forceUnmount(mountpoint)
  }

  /// Unmounts and kills everything still mounted (end of run, or after an error).
  func releaseAll() {
    let all = lock.withLock { daemons }
    for (name, daemon) in all {
      Self.forceUnmount(directory + "/\(name)/mnt")
      daemon.kill9()
    }
    lock.withLock { daemons = [:] }
  }

  static func isMounted(_ path: String) -> Bool {
    let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").contains { line in
      let fields = line.split(separator: " ")
      return fields.count > 4 && fields[4] == path
    }
  }

  static func forceUnmount(_ path: String) {
    guard isMounted(path) else { return }
    ChaosProcess.run("/usr/bin/fusermount3", ["-u", path], timeoutSeconds: 10)
    if isMounted(path) { ChaosProcess.run("/usr/bin/umount", ["-l", path], timeoutSeconds: 10) }
  }

  static func version(in output: String) -> UInt64? {
    guard let range = output.range(of: "at version ") else { return nil }
    return UInt64(output[range.upperBound...].prefix { $0.isNumber })
  }
}


/// Reads a whole file on a helper thread, giving up after a deadline (the thread is left behind
/// when the kernel never answers; the mount is torn down at the end of the run).
enum BlockingRead {
  enum Outcome {
    case success([UInt8])
    case failure(String)
  }

  static func contents(of path: String, timeoutSeconds: Double) -> Outcome {
    final class Box: @unchecked Sendable { var outcome: Outcome = .failure("timed out") }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
      if let data = FileManager.default.contents(atPath: path) {
        box.outcome = .success([UInt8](data))
      } else {
        box.outcome = .failure("reading \(path) failed: \(String(cString: strerror(errno)))")
      }
      done.signal()
    }
    thread.start()
    if done.wait(timeout: .now() + timeoutSeconds) == .timedOut {
      return .failure("reading \(path) timed out after \(Int(timeoutSeconds)) s")
    }
    return box.outcome
  }
}
