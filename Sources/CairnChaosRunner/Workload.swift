import CairnChaos
import CairnClient
import CairnCore
import CairnVFS
import Foundation
import Logging

#if canImport(Glibc)
  import Glibc
#endif

/// The function-container workload. Containers "mount" the volume either in-process through the
/// mount's own file-system core (`VolumeFS` over the client library: what the FUSE daemon runs,
/// without the kernel) or through real FUSE mounts (`cairn mount`), read the shared model with a
/// hash check, write their own checkpoint, commit, reload and exit. Every operation goes to the
/// history. Blocking calls run on dedicated threads (VolumeFS is synchronous, like FUSE callbacks).
final class Workload: @unchecked Sendable {
  static let modelPath = "/model/weights.bin"
  static let checkpointDirectory = "ckpt"

  let scenario: Scenario
  let topology: Topology
  let cluster: ChaosCluster
  let recorder: HistoryRecorder
  let directory: String
  let client: CairnClient
  let volume: VolumeName
  let log: @Sendable (String) -> Void
  private(set) var modelHash = ""
  private let lock = NSLock()
  private var stopping = false
  private var running = 0
  private var containerCount = 0
  let fuse: FuseContainers
  /// The node's metadata cache shared by the in-process mounts (degraded mode on only).
  let metadataCache: MetadataCache?

  init(
    scenario: Scenario, topology: Topology, cluster: ChaosCluster, recorder: HistoryRecorder, directory: String,
    log: @escaping @Sendable (String) -> Void
  ) throws(CairnError) {
    self.scenario = scenario
    self.topology = topology
    self.cluster = cluster
    self.recorder = recorder
    self.directory = directory
    self.log = log
    client = try cluster.workloadClient()
    volume = try VolumeName(scenario.workload.volume)
    if topology.isDegradedModeOn {
      do throws(VFSError) {
        metadataCache = try MetadataCache(directory: directory + "/node-cache")
      } catch {
        throw error.cairnError
      }
    } else {
      metadataCache = nil
    }
    fuse = FuseContainers(
      executable: cluster.executable, directory: directory + "/fuse", metaAddresses: cluster.metaAddresses(from: "clients"),
      volume: scenario.workload.volume, recorder: recorder, degradedMode: topology.isDegradedModeOn)
  }

  var isStopping: Bool { lock.withLock { stopping } }
  func stop() { lock.withLock { stopping = true } }

  /// Creates the volume (R from the topology, 256 KiB blocks so the model spreads over servers)
  /// and commits the shared model as the first version, recorded as the `setup` commit.
  func setup() async throws(CairnError) {
    let direct = try cluster.directClient()
    defer { Task { await direct.close() } }
    let settings = VolumeSettings(blockBytes: 256 << 10, replicationFactor: UInt8(topology.replicas))
    _ = try await direct.createVolume(volume, settings: settings)
    var random = SeededRandom(seed: scenario.seed)
    let model = (0..<scenario.workload.modelBytes).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    modelHash = BlockAddress.of(model).hex
    let file = directory + "/model.bin"
    guard FileManager.default.createFile(atPath: file, contents: Data(model)) else {
      throw CairnError(.ioError, "cannot write '\(file)'")
    }
    let (manifest, _) = try await direct.uploadFile(at: file, blockBytes: 256 << 10, replicas: topology.replicas)
    let now = Int64(Date().timeIntervalSince1970 * 1e9)
    let op = recorder.invoke(.commit, process: "setup") {
      $0.path = Self.modelPath
      $0.hash = modelHash
      $0.volume = volume.rawValue
    }
    let result = try await direct.commit(
      volume,
      changes: [
        .put(try VolumePath(Self.modelPath), .file(manifest, Attributes(mode: 0o100644, mtimeNanos: now))),
        .put(try VolumePath("/" + Self.checkpointDirectory), .directory(Attributes(mode: 0o40755, mtimeNanos: now))),
      ], message: "chaos setup: shared model")
    recorder.complete(op, .ok, kind: .commit, process: "setup") { $0.version = result.version }
  }

  /// Runs the workload until `seconds` have passed since `start` (recorder time), then stops
  /// and waits for every container to exit.
  func run(untilSeconds end: Double) async {
    let w = scenario.workload
    for i in 0..<w.runningContainers {
      startThread { self.runningContainer("run-\(i)", until: end) }
    }
    for i in 0..<w.fuseContainers {
      startThread { self.fuse.longRunning("fuse-\(i)", commitEverySeconds: w.commitEverySeconds, until: end, hashOfModel: self.modelHash) }
    }
    var storms = w.storms.sorted { $0.atSeconds < $1.atSeconds }
    var nextContainer = recorder.now()
    let interval = w.containersPerSecond > 0 ? 1 / w.containersPerSecond : .infinity
    while recorder.now() < end {
      let now = recorder.now()
      if let storm = storms.first, storm.atSeconds <= now {
        storms.removeFirst()
        startStorm(storm, index: w.storms.count - storms.count - 1)
      }
      if now >= nextContainer {
        nextContainer += interval
        let id = lock.withLock { () -> Int? in
          guard running < w.concurrency else { return nil }
          running += 1
          containerCount += 1
          return containerCount
        }
        if let id {
          startThread {
            self.shortLivedContainer("c\(id)") { self.lock.withLock { self.running -= 1 } }
          }
        }
      }
      try? await Task.sleep(for: .milliseconds(50))
    }
    stop()
    // Containers finish their current step; wait for them (bounded).
    let deadline = Date().addingTimeInterval(90)
    while Date() < deadline && (lock.withLock { running } > 0 || activeThreads.load() > 0) {
      try? await Task.sleep(for: .milliseconds(100))
    }
  }

  private let activeThreads = Counter()

  func startThread(_ body: @escaping @Sendable () -> Void) {
    activeThreads.add(1)
    let thread = Thread { [activeThreads] in
      body()
      activeThreads.add(-1)
    }
    thread.stackSize = 4 << 20
    thread.start()
  }

  /// A mount storm: `mounts` in-process mounts and `fuseMounts` FUSE mounts at once. Each mounts,
  /// looks the model up and exits. At most `stormThreads` run at a time; the rest queue, and the
  /// queueing counts in their mount latency (the invoke is recorded at the storm's start).
  func startStorm(_ storm: MountStorm, index: Int) {
    log("mount storm: \(storm.mounts) mounts, \(storm.fuseMounts) FUSE mounts")
    let queue = StormQueue(count: storm.mounts)
    let invokes = (0..<storm.mounts).map { i in
      recorder.invoke(.mount, process: "storm\(index)-\(i)") { $0.volume = volume.rawValue }
    }
    for _ in 0..<min(storm.mounts, Self.stormThreads) {
      startThread {
        while let i = queue.next() { self.stormMount("storm\(index)-\(i)", op: invokes[i]) }
      }
    }
    for i in 0..<storm.fuseMounts {
      startThread { self.fuse.stormMount("fstorm\(index)-\(i)") }
    }
  }

  /// The in-process mounts log only errors (the history records every operation).
  static let quietLogger: Logger = {
    var logger = Logger(label: "cairn.chaos.mount")
    logger.logLevel = .critical
    return logger
  }()

  /// Threads serving one storm's in-process mounts.
  static let stormThreads = 48

  func stormMount(_ name: String, op: Int) {
    let cache = directory + "/mounts/\(name)"
    defer { try? FileManager.default.removeItem(atPath: cache) }
    do {
      let fs = try mount(cache: cache)
      recorder.complete(op, .ok, kind: .mount, process: name) { $0.version = fs.pinnedVersion }
      _ = try? fs.lookup(parent: VolumeFS.rootId, name: "model")
    } catch {
      recorder.complete(op, outcome(of: error, kind: .mount), kind: .mount, process: name) { $0.error = describe(error) }
    }
  }

  /// One in-process mount: a VolumeFS over the shared client, small caches so reads reach the
  /// chunk servers.
  func mount(cache: String) throws -> VolumeFS {
    var configuration = MountConfiguration(volume: volume, cacheDirectory: cache)
    configuration.memoryCacheBytes = 1 << 20
    configuration.diskCacheBytes = 0
    configuration.operationTimeoutSeconds = 15
    configuration.commitTimeoutSeconds = 30
    let direct = ClientBackend(client: client, name: volume)
    guard let metadataCache else {
      return try VolumeFS(configuration: configuration, backend: direct, logger: Self.quietLogger)
    }
    configuration.isDegradedModeEnabled = true
    let backend = CachingBackend(inner: direct, cache: metadataCache, volume: volume, logger: Self.quietLogger)
    return try VolumeFS(configuration: configuration, backend: backend, logger: Self.quietLogger)
  }

  /// Mount, read the model, write a checkpoint, commit, reload, exit.
  /// `exited` is called when the container is gone (a queued commit then stays with the node).
  func shortLivedContainer(_ name: String, exited: () -> Void) {
    let cache = directory + "/mounts/\(name)"
    defer { try? FileManager.default.removeItem(atPath: cache) }
    guard let fs = timedMount(name, cache: cache) else {
      exited()
      return
    }
    for _ in 0..<scenario.workload.readsPerContainer { readModel(fs, process: name) }
    if let queued = commitCheckpoint(fs, process: name, sequence: 1) {
      let op = recorder.invoke(.unmount, process: name)
      recorder.complete(op, .ok, kind: .unmount, process: name)
      exited()
      // The container exits; its node keeps the queued commit and sends it when the cluster
      // answers (what the mount daemon does), bounded by the end of the run plus 2 minutes.
      while fs.queuedCommitCount > 0 && recorder.now() < scenario.durationSeconds + 120 {
        try? fs.drainQueue()
        if fs.queuedCommitCount > 0 { usleep(500_000) }
      }
      finishQueued(fs, queued)
      return
    }
    reload(fs, process: name)
    let op = recorder.invoke(.unmount, process: name)
    recorder.complete(op, .ok, kind: .unmount, process: name)
    exited()
  }

  /// Mounted for the whole run: reads continuously, commits a checkpoint every few seconds.
  func runningContainer(_ name: String, until end: Double) {
    let cache = directory + "/mounts/\(name)"
    defer { try? FileManager.default.removeItem(atPath: cache) }
    var fs: VolumeFS?
    while fs == nil && !isStopping && recorder.now() < end {
      fs = timedMount(name, cache: cache)
      if fs == nil { usleep(500_000) }
    }
    guard let fs else { return }
    var lastCommit = recorder.now()
    var sequence = 0
    var queued: QueuedOperation?
    var lastDrain = 0.0
    while !isStopping && recorder.now() < end {
      readModel(fs, process: name)
      if let pending = queued, recorder.now() - lastDrain >= 2 {
        // One queued commit at a time: send it before committing again.
        lastDrain = recorder.now()
        try? fs.drainQueue()
        if fs.queuedCommitCount == 0 {
          finishQueued(fs, pending)
          queued = nil
        }
      } else if queued == nil && recorder.now() - lastCommit >= scenario.workload.commitEverySeconds {
        sequence += 1
        queued = commitCheckpoint(fs, process: name, sequence: sequence)
        if queued == nil { reload(fs, process: name) }
        lastCommit = recorder.now()
      }
      usleep(150_000)
    }
    if let pending = queued {
      while fs.queuedCommitCount > 0 && recorder.now() < scenario.durationSeconds + 120 {
        try? fs.drainQueue()
        if fs.queuedCommitCount > 0 { usleep(500_000) }
      }
      finishQueued(fs, pending)
    }
    let op = recorder.invoke(.unmount, process: name)
    recorder.complete(op, .ok, kind: .unmount, process: name)
  }

  func timedMount(_ name: String, cache: String) -> VolumeFS? {
    let op = recorder.invoke(.mount, process: name) { $0.volume = volume.rawValue }
    do {
      let fs = try mount(cache: cache)
      recorder.complete(op, .ok, kind: .mount, process: name) { $0.version = fs.pinnedVersion }
      return fs
    } catch {
      recorder.complete(op, outcome(of: error, kind: .mount), kind: .mount, process: name) { $0.error = describe(error) }
      return nil
    }
  }

  func readModel(_ fs: VolumeFS, process: String) {
    let op = recorder.invoke(.read, process: process) {
      $0.path = Self.modelPath
      $0.expectedHash = modelHash
      $0.version = fs.pinnedVersion
    }
    do {
      let dir = try fs.lookup(parent: VolumeFS.rootId, name: "model")
      let file = try fs.lookup(parent: dir.inode, name: "weights.bin")
      let handle = try fs.open(file.inode, flags: O_RDONLY)
      defer { fs.release(handle) }
      var bytes: [UInt8] = []
      bytes.reserveCapacity(Int(file.sizeBytes))
      while bytes.count < Int(file.sizeBytes) {
        let chunk = try fs.read(handle: handle, offset: UInt64(bytes.count), count: 1 << 20)
        if chunk.isEmpty { break }
        bytes += chunk
      }
      let hash = BlockAddress.of(bytes).hex
      recorder.complete(op, .ok, kind: .read, process: process) {
        $0.hash = hash
        $0.path = Self.modelPath
        $0.version = fs.pinnedVersion
      }
    } catch {
      recorder.complete(op, .fail, kind: .read, process: process) { $0.error = describe(error) }
    }
  }

  /// A commit queued in degraded mode, completed in the history once it is applied.
  struct QueuedOperation {
    var op: Int
    var process: String
  }

  /// Records the queued commit as applied (the mount was rebased on the version it produced),
  /// or leaves it open when it never was (the checkers report that).
  func finishQueued(_ fs: VolumeFS, _ queued: QueuedOperation) {
    guard fs.queuedCommitCount == 0 else { return }
    recorder.complete(queued.op, .ok, kind: .commit, process: queued.process) { $0.version = fs.pinnedVersion }
  }

  /// Writes and commits a checkpoint; returns the operation when degraded mode queued it.
  @discardableResult
  func commitCheckpoint(_ fs: VolumeFS, process: String, sequence: Int) -> QueuedOperation? {
    let fileName = "\(process)-\(sequence).bin"
    var random = SeededRandom(seed: scenario.seed ^ UInt64(truncatingIfNeeded: fileName.hashValueStable))
    let content = (0..<scenario.workload.checkpointBytes).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    let hash = BlockAddress.of(content).hex
    let path = "/\(Self.checkpointDirectory)/\(fileName)"
    let op = recorder.invoke(.commit, process: process) {
      $0.path = path
      $0.hash = hash
      $0.volume = volume.rawValue
    }
    do {
      let dir = try fs.lookup(parent: VolumeFS.rootId, name: Self.checkpointDirectory)
      let (_, handle) = try fs.create(
        parent: dir.inode, name: fileName, mode: 0o100644, flags: O_WRONLY | O_CREAT | O_TRUNC,
        caller: Caller(uid: 0, gid: 0))
      _ = try content.withUnsafeBytes { try fs.write(handle: handle, offset: 0, data: $0) }
      fs.release(handle)
      switch try fs.commitOrQueue(message: "checkpoint \(fileName)") {
      case .committed(let version):
        recorder.complete(op, .ok, kind: .commit, process: process) { $0.version = version }
      case .queued(let position, let key):
        recorder.complete(op, .info, kind: .commit, process: process) {
          $0.detail = "queued (degraded mode), position \(position), key \(key)"
        }
        return QueuedOperation(op: op, process: process)
      }
    } catch {
      recorder.complete(op, outcome(of: error, kind: .commit), kind: .commit, process: process) {
        $0.error = describe(error)
      }
    }
    return nil
  }

  func reload(_ fs: VolumeFS, process: String) {
    let op = recorder.invoke(.reload, process: process)
    do {
      let version = try fs.reload()
      recorder.complete(op, .ok, kind: .reload, process: process) { $0.version = version }
    } catch {
      recorder.complete(op, .fail, kind: .reload, process: process) { $0.error = describe(error) }
    }
  }

  /// A commit whose outcome the system says it does not know is `unknown`; other failures `fail`.
  func outcome(of error: any Error, kind: OperationKind) -> EventType {
    guard kind == .commit else { return .fail }
    if let e = error as? VFSError, e.cairnError.code == .unknownOutcome || e.cairnError.code == .timeout { return .unknown }
    if let e = error as? CairnError, e.code == .unknownOutcome || e.code == .timeout { return .unknown }
    return .fail
  }
}

func describe(_ error: any Error) -> String {
  if let e = error as? VFSError { return e.description }
  if let e = error as? CairnError { return e.description }
  return "\(error)"
}

/// A thread-safe counter.
final class Counter: @unchecked Sendable {
  private let lock = NSLock()
  private var value = 0
  func add(_ n: Int) { lock.withLock { value += n } }
  func load() -> Int { lock.withLock { value } }
}

/// Hands out the indexes of one storm's mounts to its threads.
final class StormQueue: @unchecked Sendable {
  private let lock = NSLock()
  private var nextIndex = 0
  let count: Int
  init(count: Int) { self.count = count }
  func next() -> Int? {
    lock.withLock {
      guard nextIndex < count else { return nil }
      defer { nextIndex += 1 }
      return nextIndex
    }
  }
}

extension String {
  /// FNV-1a of the UTF-8 bytes: stable across runs (unlike `hashValue`), for seeding.
  var hashValueStable: UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in utf8 {
      h ^= UInt64(b)
      h = h &* 0x100_0000_01b3
    }
    return h
  }
}
