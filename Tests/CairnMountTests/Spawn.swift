import Foundation

/// Runs programs with posix_spawn and waitpid, output captured through files (never pipes), so a
/// daemon that a command leaves behind cannot hold the test's pipes open, and a child's exit is
/// always observed.
enum Spawn {
  struct Result {
    var status: Int32
    var out: String
    var err: String
  }

  /// Starts a program; stdout/stderr go to `logPath` (or /dev/null). Returns its pid.
  static func start(_ executable: String, _ arguments: [String], logPath: String?, cwd: String? = nil,
    environment: [String: String] = [:]) -> pid_t
  {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    let command = cwd.map { ["/usr/bin/env", "-C", $0, executable] } ?? [executable]
    let argv = (command + arguments).map { strdup($0) } + [nil]
    defer { for p in argv + envp { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, command[0], &actions, nil, argv, envp)
    return rc == 0 ? pid : -1
  }

  /// Waits for a child; returns its exit status (128+N when killed by signal N).
  static func wait(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
      if errno != EINTR { return -1 }
    }
    return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
  }

  /// Runs a program to completion, capturing stdout and stderr separately.
  static func run(_ executable: String, _ arguments: [String], cwd: String? = nil, environment: [String: String] = [:])
    -> Result
  {
    let base = NSTemporaryDirectory() + "cairn-spawn-\(UUID().uuidString)"
    let outPath = base + ".out"
    let errPath = base + ".err"
    defer {
      unlink(outPath)
      unlink(errPath)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    let command = cwd.map { ["/usr/bin/env", "-C", $0, executable] } ?? [executable]
    let argv = (command + arguments).map { strdup($0) } + [nil]
    defer { for p in argv + envp { free(p) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, command[0], &actions, nil, argv, envp) == 0 else {
      return Result(status: 127, out: "", err: "cannot run \(executable)")
    }
    let status = wait(pid)
    return Result(
      status: status, out: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
      err: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
  }
}

/// A local cluster (`cairn dev up` on free ports in a temporary directory) started and stopped
/// with `Spawn`, so its lifetime never depends on Foundation's Process.
final class TestCluster {
  let directory: String
  let basePort: Int
  static var binary: String { CairnTestSupportBinary.path }
  var metaAddress: String { "127.0.0.1:\(basePort)" }
  /// Every metadata server's address, comma-separated (from the client config `dev up` writes).
  var metaAddresses: String {
    let text = (try? String(contentsOfFile: directory + "/client.toml", encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").first { $0.hasPrefix("meta") }
    return line.flatMap { $0.split(separator: "\"").dropFirst().first.map(String.init) } ?? metaAddress
  }
  private var stopped = false

  init(chunkServers: Int = 3, metaServers: Int = 1) throws {
    directory = NSTemporaryDirectory() + "cairn-mtest-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var last = ""
    for _ in 0..<5 {
      let port = Int.random(in: 20000..<50000)
      let r = Spawn.run(
        Self.binary,
        ["dev", "up", "--dir", directory, "--base-port", "\(port)", "--chunk-servers", "\(chunkServers)", "--meta-servers", "\(metaServers)"])
      if r.status == 0 {
        basePort = port
        return
      }
      last = r.err + r.out
      _ = Spawn.run(Self.binary, ["dev", "down", "--dir", directory])
    }
    throw NSError(domain: "cairn", code: 1, userInfo: [NSLocalizedDescriptionKey: "cluster did not start: \(last)"])
  }

  deinit { stop() }

  func stop() {
    guard !stopped else { return }
    stopped = true
    _ = Spawn.run(Self.binary, ["dev", "down", "--dir", directory])
    for (_, pid) in pids() { kill(pid, SIGKILL) }
    try? FileManager.default.removeItem(atPath: directory)
  }

  func cairn(_ arguments: [String]) -> Spawn.Result {
    Spawn.run(Self.binary, arguments, environment: ["CAIRN_META": metaAddresses])
  }

  func pids() -> [String: pid_t] {
    let dir = directory + "/pids"
    var out: [String: pid_t] = [:]
    for file in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where file.hasSuffix(".pid") {
      if let text = try? String(contentsOfFile: dir + "/" + file, encoding: .utf8),
        let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
      {
        out[String(file.dropLast(4))] = pid
      }
    }
    return out
  }

  func waitUntil(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if (try? condition()) == true { return }
      usleep(100_000)
    }
    throw NSError(domain: "cairn", code: 2, userInfo: [NSLocalizedDescriptionKey: "timed out waiting for \(what)"])
  }
}
