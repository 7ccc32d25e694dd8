import CairnCore
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A child process the harness started (a server or a mount daemon): its own session, output
/// appended to a log, an environment of its own (for libfaketime). Killed by pid only.
final class ChaosProcess: @unchecked Sendable {
  let name: String
  let executable: String
  let arguments: [String]
  let environment: [String: String]
  let logPath: String
  private let lock = NSLock()
  private var currentPid: pid_t?

  init(name: String, executable: String, arguments: [String], environment: [String: String] = [:], logPath: String) {
    self.name = name
    self.executable = executable
    self.arguments = arguments
    self.environment = environment
    self.logPath = logPath
  }

  var pid: pid_t? { lock.withLock { currentPid } }

  /// Starts the process (again). The previous instance must have exited.
  func start() throws(CairnError) {
    let pid = try Self.spawn(executable, arguments: arguments, environment: environment, logPath: logPath)
    lock.withLock { currentPid = pid }
    Self.registry.add(self)
  }

  /// Every process the harness started, so an interrupted run (SIGINT, SIGTERM) can kill them.
  static let registry = Registry()

  final class Registry: @unchecked Sendable {
    private let lock = NSLock()
    private var processes: [ObjectIdentifier: ChaosProcess] = [:]
    func add(_ p: ChaosProcess) { lock.withLock { processes[ObjectIdentifier(p)] = p } }
    /// SIGKILLs every process still running.
    func killAll() {
      for p in lock.withLock({ Array(processes.values) }) where p.isAlive { p.kill9() }
    }
  }

  /// Whether the process is running (a zombie is reaped and counts as exited).
  var isAlive: Bool {
    guard let pid else { return false }
    var status: Int32 = 0
    if waitpid(pid, &status, WNOHANG) == pid { return false }
    return kill(pid, 0) == 0
  }

  func signal(_ sig: Int32) {
    guard let pid else { return }
    kill(pid, sig)
  }

  /// SIGKILL and reap.
  func kill9() {
    guard let pid else { return }
    kill(pid, SIGCONT)
    kill(pid, SIGKILL)
    _ = Self.waitExit(pid, seconds: 10)
    lock.withLock { currentPid = nil }
  }

  /// SIGTERM, SIGKILL after `grace` seconds; reaped either way.
  func stop(grace: Double = 10) {
    guard let pid else { return }
    kill(pid, SIGCONT)
    kill(pid, SIGTERM)
    if !Self.waitExit(pid, seconds: grace) {
      kill(pid, SIGKILL)
      _ = Self.waitExit(pid, seconds: 5)
    }
    lock.withLock { currentPid = nil }
  }

  /// Waits up to `seconds` for `pid` to exit (reaping it); true when it did.
  static func waitExit(_ pid: pid_t, seconds: Double) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    var status: Int32 = 0
    while Date() < deadline {
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid || (r < 0 && errno == ECHILD && kill(pid, 0) != 0) { return true }
      usleep(20_000)
    }
    return false
  }

  /// The last lines of the log, for error messages.
  func logTail(lines: Int = 5) -> String {
    let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
  }

  /// posix_spawn with stdin from /dev/null, output appended to `logPath`, a new session, and the
  /// harness's environment plus `environment`.
  static func spawn(_ executable: String, arguments: [String], environment: [String: String], logPath: String)
    throws(CairnError) -> pid_t
  {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // Only 0-2 are inherited: the harness's sockets and pipes stay with it.
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    for name in fds {
      guard let fd = Int32(name), fd > 2 else { continue }
      let flags = fcntl(fd, F_GETFD)
      if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(0x80))  // POSIX_SPAWN_SETSID
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for p in argv { free(p) }
      for p in envp { free(p) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw CairnError(.ioError, "cannot start \(executable): \(String(cString: strerror(rc)))") }
    return pid
  }

  /// Runs a command to completion (for mount/xfs_io/fallocate), returning status and output.
  @discardableResult
  static func run(_ executable: String, _ arguments: [String], timeoutSeconds: Double = 60) -> (status: Int32, output: String) {
    let log = NSTemporaryDirectory() + "cairn-chaos-cmd-\(UUID().uuidString.prefix(8)).log"
    defer { try? FileManager.default.removeItem(atPath: log) }
    guard let pid = try? spawn(executable, arguments: arguments, environment: [:], logPath: log) else {
      return (127, "cannot start \(executable)")
    }
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while waitpid(pid, &status, WNOHANG) == 0 {
      if Date() > deadline {
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
        return (124, "timed out after \(timeoutSeconds) s")
      }
      usleep(10_000)
    }
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (code, output)
  }
}
