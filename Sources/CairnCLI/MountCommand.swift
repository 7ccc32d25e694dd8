import ArgumentParser
import CairnClient
import CairnCore
import CairnFUSE
import CairnVFS
import Foundation
import Logging

/// `cairn mount VOLUME MOUNTPOINT`: serves a volume through FUSE, pinned at one version, with
/// writes staged locally until committed.
struct MountCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mount", abstract: "Mount a volume with FUSE (pins a version; writes are staged until commit).",
    discussion: """
      Without --foreground the daemon runs in the background (log in CACHE_DIR/mount.log) and this
      command returns once the volume is mounted. Control it with 'cairn commit|reload|status|unmount
      MOUNTPOINT', or from inside the mount by writing 'commit' or 'reload' to MOUNTPOINT/.cairn/control.
      Exit status of the daemon: 0, or 75 when the final commit failed or was queued (changes stay
      in the cache directory and are committed by the next mount that uses it).
      Degraded mode (--degraded on, the default): with every metadata server unreachable the mount
      keeps serving its pinned version from the node's metadata cache (--metadata-cache-dir), keeps
      staging writes, and queues commits ('cairn commit' exits 9) that are applied in order when the
      metadata service answers again; a new mount of a cached version starts too.
      """)

  @OptionGroup var client: ClientOptions
  @OptionGroup var degradedOptions: DegradedOptions
  @Argument(help: "Volume to mount.") var volume: String
  @Argument(help: "Directory to mount it on.") var mountpoint: String
  @Option(help: "Pin this version instead of the head.") var version: UInt64?
  @Flag(help: "Refuse every write (EROFS).") var readOnly = false
  @Option(help: "Commit staged changes every N seconds.") var commitInterval: Double?
  @Option(help: "Staging area, block cache and control socket (default: one per volume and mountpoint).")
  var cacheDir: String?
  @Option(help: "Default commit mode: merge or strict (default: the volume's setting).") var commitMode: String?
  @Option(name: .customLong("disk-cache-mib"), help: "Bound of the on-disk block cache, in MiB.") var diskCacheMiB: Int = 2048
  @Flag(help: "Stay in the foreground (log to stderr).") var foreground = false

  func validate() throws {
    _ = try volumeName(volume)
    if let commitInterval, !(commitInterval > 0 && commitInterval <= 86400) {
      throw ValidationError("--commit-interval must be between 0 and 86400 seconds")
    }
    if let commitMode, commitMode != "merge" && commitMode != "strict" {
      throw ValidationError("--commit-mode must be 'merge' or 'strict'")
    }
    guard diskCacheMiB >= 0 else { throw ValidationError("--disk-cache-mib must not be negative") }
  }

  var absoluteMountpoint: String { URL(fileURLWithPath: mountpoint).standardizedFileURL.path }
  var cacheDirectory: String {
    cacheDir.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
      ?? MountTable.defaultCacheDirectory(volume: volume, mountpoint: absoluteMountpoint)
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      var isDir: ObjCBool = false
      guard FileManager.default.fileExists(atPath: absoluteMountpoint, isDirectory: &isDir), isDir.boolValue else {
        throw CairnError(.notFound, "mountpoint '\(absoluteMountpoint)' is not a directory")
      }
      guard !MountTable.isMounted(absoluteMountpoint) else {
        throw CairnError(.alreadyExists, "'\(absoluteMountpoint)' is already a mountpoint")
      }
      if !foreground { try await startInBackground() }
    }
    if foreground {
      let status = await MountDaemon.runOnThread(self)
      if status != 0 { throw ExitCode(status) }
    }
  }

  /// Starts `cairn mount … --foreground` in its own session and waits until it has mounted.
  func startInBackground() async throws(CairnError) {
    do { try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true) } catch {
      throw CairnError(.ioError, "cannot create cache directory '\(cacheDirectory)'")
    }
    var arguments = CommandLine.arguments.dropFirst().filter { $0 != "--foreground" }
    arguments.append("--foreground")
    if cacheDir == nil { arguments += ["--cache-dir", cacheDirectory] }
    if client.meta == nil, let resolved = try? client.resolveAddresses() {
      arguments += ["--meta", resolved.map { "\($0)" }.joined(separator: ",")]
    }
    let logPath = cacheDirectory + "/mount.log"
    let pid = try MountProcess.spawn(arguments: Array(arguments), logPath: logPath, newSession: true)
    try await MountProcess.waitMounted(absoluteMountpoint, pid: pid, logPath: logPath)
    Terminal.out("mounted '\(volume)' at \(absoluteMountpoint) (daemon pid \(pid), cache \(cacheDirectory))")
  }
}

/// The mount daemon: opens the volume, recovers and commits a crashed daemon's staged changes,
/// serves FUSE and the control socket, commits in the background, and commits on exit.
enum MountDaemon {
  /// Exit status when the final commit failed (EX_TEMPFAIL).
  static let commitFailedStatus: Int32 = 75

  static func runOnThread(_ command: MountCommand) async -> Int32 {
    await withCheckedContinuation { continuation in
      let thread = Thread { continuation.resume(returning: run(command)) }
      thread.stackSize = 8 << 20
      thread.start()
    }
  }

  static func run(_ command: MountCommand) -> Int32 {
    var logger = Logger(label: "cairn.mount")
    logger[metadataKey: "volume"] = "\(command.volume)"
    let cacheDirectory = command.cacheDirectory
    do {
      try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
    } catch {
      Terminal.error("cannot create cache directory '\(cacheDirectory)'")
      return ExitStatus.failure
    }
    let lockFd = open(cacheDirectory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard lockFd >= 0, flock(lockFd, LOCK_EX | LOCK_NB) == 0 else {
      Terminal.error("cache directory '\(cacheDirectory)' is in use by another mount")
      return ExitStatus.conflict
    }
    defer { close(lockFd) }
    let fs: VolumeFS
    let cairnClient: CairnClient
    let metadataCache: MetadataCache?
    do {
      cairnClient = try command.client.makeClient()
      var configuration = MountConfiguration(
        volume: try VolumeName(command.volume), version: command.version, isReadOnly: command.readOnly,
        cacheDirectory: cacheDirectory)
      configuration.commitMode = command.commitMode.map { $0 == "strict" ? .strict : .merge }
      configuration.diskCacheBytes = command.diskCacheMiB << 20
      configuration.isDegradedModeEnabled = command.degradedOptions.isEnabled
      let backend: any VolumeBackend
      (backend, metadataCache) = try DegradedMode.backend(
        command.degradedOptions, client: cairnClient, volume: configuration.volume, logger: logger)
      fs = try VolumeFS(configuration: configuration, backend: backend, logger: logger)
    } catch let error as CairnError {
      Terminal.error(error.description)
      return ExitStatus.of(error)
    } catch let error as VFSError {
      Terminal.error(error.description)
      return ExitStatus.of(error.cairnError)
    } catch {
      Terminal.error("\(error)")
      return ExitStatus.failure
    }
    if fs.hasStagedChanges && !command.readOnly {
      do {
        let outcome = try fs.commitOrQueue(message: "changes recovered from a previous mount")
        logger.notice("committed recovered changes", metadata: ["outcome": "\(outcome)"])
      } catch {
        logger.error("recovered changes could not be committed yet; they stay staged", metadata: ["error": "\(error)"])
      }
    }
    let mount = FUSEMount(fs: fs, mountpoint: command.absoluteMountpoint, logger: logger)
    let stopping = StopFlag()
    let control = ControlServer(path: fs.controlSocketPath, fs: fs, logger: logger) {
      stopping.set()
      mount.stop()
    }
    do throws(CairnError) { try control.start() } catch {
      Terminal.error(error.description)
      return ExitStatus.failure
    }
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    signal(SIGHUP, SIG_IGN)
    var sources: [any DispatchSourceSignal] = []
    for sig in [SIGTERM, SIGINT, SIGHUP] {
      let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
      source.setEventHandler {
        logger.notice("signal received: committing and unmounting", metadata: ["signal": "\(sig)"])
        stopping.set()
        mount.stop()
      }
      source.resume()
      sources.append(source)
    }
    if let metadataCache { DegradedMode.start(fs: fs, client: cairnClient, cache: metadataCache, stopping: stopping) }
    if let interval = command.commitInterval, !command.readOnly {
      Thread.detachNewThread { fs.runBackgroundCommits(intervalSeconds: interval) { stopping.isSet } }
    }
    let fsName = "cairn:\(command.volume)"
    do throws(VFSError) {
      _ = try mount.run(fsName: fsName, isReadOnly: command.readOnly)
    } catch {
      Terminal.error(error.description)
      return ExitStatus.failure
    }
    stopping.set()
    withExtendedLifetime(sources) {}
    unlink(fs.controlSocketPath)
    guard !command.readOnly, fs.hasStagedChanges || fs.queuedCommitCount > 0 else { return 0 }
    var delay = 0.5
    for attempt in 1...4 {
      do {
        switch try fs.commitOrQueue(message: "commit on unmount") {
        case .committed(let v):
          logger.info("final commit", metadata: ["version": "\(v)"])
          return 0
        case .queued(let position, _):
          Terminal.error(
            "the metadata service is unreachable: \(position) commit(s) of '\(command.volume)' stay queued in \(cacheDirectory); the next 'cairn mount \(command.volume) MOUNTPOINT --cache-dir \(cacheDirectory)' applies them in order"
          )
          return commitFailedStatus
        }
      } catch {
        logger.error("final commit failed", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
        if error.code == .conflict || error.code == .invalid { break }
        Thread.sleep(forTimeInterval: delay)
        delay *= 2
      }
    }
    Terminal.error(
      "the final commit of '\(command.volume)' failed; the changes stay staged in \(cacheDirectory) and are committed by the next 'cairn mount \(command.volume) \(command.absoluteMountpoint)' (same --cache-dir)"
    )
    return commitFailedStatus
  }
}

/// A flag set once from any thread.
final class StopFlag: @unchecked Sendable {
  private let lock = NSLock()
  private var value = false
  func set() {
    lock.lock()
    value = true
    lock.unlock()
  }
  var isSet: Bool {
    lock.lock()
    defer { lock.unlock() }
    return value
  }
}

/// Starting and watching mount daemons.
enum MountProcess {
  /// Starts `cairn ARGUMENTS` with output appended to `logPath`.
  static func spawn(arguments: [String], logPath: String, newSession: Bool) throws(CairnError) -> pid_t {
    try DetachedProcess.spawn("the mount daemon", arguments: arguments, logPath: logPath, newSession: newSession)
  }

  /// Waits until `mountpoint` is mounted, or fails with the daemon's log when it exits first.
  static func waitMounted(_ mountpoint: String, pid: pid_t, logPath: String, timeoutSeconds: Double = 60)
    async throws(CairnError)
  {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while Date() < deadline {
      if MountTable.isMounted(mountpoint) { return }
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid || !DevCluster.isAlive(pid) {
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw CairnError(
          .unavailable, "the mount daemon exited before mounting:\n\(log.split(separator: "\n").suffix(5).joined(separator: "\n"))")
      }
      try? await Task.sleep(for: .milliseconds(50))
    }
    kill(pid, SIGTERM)
    throw CairnError(.timeout, "'\(mountpoint)' was not mounted within \(Int(timeoutSeconds)) s (log: \(logPath))")
  }
}
