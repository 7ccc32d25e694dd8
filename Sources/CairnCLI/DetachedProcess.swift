import CairnCore
import Foundation

/// Starting `cairn` itself as a background process (servers, mount daemons).
enum DetachedProcess {
  /// Starts `cairn ARGUMENTS` with stdin from /dev/null and output appended to `logPath`; with
  /// `newSession` it survives the terminal (its own session). The child inherits no other
  /// descriptor: a parent waiting for EOF on a pipe or socket we hold (Foundation's `Process`
  /// does) would otherwise wait for the child to exit.
  static func spawn(_ what: String, arguments: [String], logPath: String, newSession: Bool) throws(CairnError) -> pid_t {
    markInheritedDescriptorsCloseOnExec()
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    if newSession { posix_spawnattr_setflags(&attributes, Int16(0x80)) }  // POSIX_SPAWN_SETSID
    let executable = DevCluster.executable()
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    guard rc == 0 else { throw CairnError(.ioError, "cannot start \(what): \(String(cString: strerror(rc)))") }
    return pid
  }

  static func markInheritedDescriptorsCloseOnExec() {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    for name in fds {
      guard let fd = Int32(name), fd > 2 else { continue }
      let flags = fcntl(fd, F_GETFD)
      if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }
  }
}
