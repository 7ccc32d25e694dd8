import CairnClient
import CairnCore
import CairnTransport
import Foundation

/// A real local cluster (`cairn dev up` on free loopback ports in a temporary directory) for
/// integration tests. Always stops its processes: `stop()` in tearDown, and `deinit` as a backstop.
public final class ClusterFixture: @unchecked Sendable {
  public let directory: String
  public let basePort: Int
  public let chunkServers: Int
  /// Metadata servers: 1 (single server, process "meta") or a Raft group ("meta-1", "meta-2", …).
  public let metaServers: Int
  public let electionTimeoutMs: Int?
  /// Metadata server 1's address.
  public var metaAddress: String { "127.0.0.1:\(basePort)" }
  /// Every metadata server's address, comma-separated (what clients are given).
  public var metaAddresses: String { (1...metaServers).map { metaAddress(of: $0) }.joined(separator: ",") }
  /// Process names of the metadata servers, by member id order.
  public var metaNames: [String] { metaServers == 1 ? ["meta"] : (1...metaServers).map { "meta-\($0)" } }
  private var stopped = false
  /// TOML configs given to the metadata and chunk servers (also on restart).
  private var metaConfigArguments: [String] = []
  private var chunkConfigArguments: [String] = []

  /// The address of metadata server `id` (1-based), as laid out by `cairn dev up`.
  public func metaAddress(of id: Int) -> String {
    "127.0.0.1:\(Self.metaPort(id, basePort: basePort))"
  }

  static func metaPort(_ id: Int, basePort: Int) -> Int { id == 1 ? basePort : basePort + 18 + id }

  /// The `cairn` binary built next to the test bundle.
  public static var binary: String {
    let bundle = Bundle.main.bundleURL.deletingLastPathComponent()
    var candidates = [bundle.appendingPathComponent("cairn").path]
    for arg in CommandLine.arguments where arg.contains(".xctest") {
      var url = URL(fileURLWithPath: arg)
      while url.path != "/" && !url.lastPathComponent.hasSuffix(".xctest") { url.deleteLastPathComponent() }
      candidates.append(url.deletingLastPathComponent().appendingPathComponent("cairn").path)
    }
    candidates.append(FileManager.default.currentDirectoryPath + "/.build/debug/cairn")
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
  }

  /// Starts a cluster; `metaConfig` and `chunkConfig` are TOML text for the servers' `--config`
  /// (for example short repair, garbage-collection and scrub timings).
  public init(
    chunkServers: Int = 3, metaServers: Int = 3, electionTimeoutMs: Int? = nil, metaConfig: String? = nil,
    chunkConfig: String? = nil
  ) throws {
    self.chunkServers = chunkServers
    self.metaServers = metaServers
    self.electionTimeoutMs = electionTimeoutMs
    directory = NSTemporaryDirectory() + "cairn-test-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var configArguments: [String] = []
    if let metaConfig {
      try metaConfig.write(toFile: directory + "/meta.toml", atomically: true, encoding: .utf8)
      metaConfigArguments = ["--config", directory + "/meta.toml"]
      configArguments += ["--meta-config", directory + "/meta.toml"]
    }
    if let chunkConfig {
      try chunkConfig.write(toFile: directory + "/chunk.toml", atomically: true, encoding: .utf8)
      chunkConfigArguments = ["--config", directory + "/chunk.toml"]
      configArguments += ["--chunk-config", directory + "/chunk.toml"]
    }
    var lastError = ""
    for _ in 0..<5 {
      let port = Self.freeBasePort(
        count: chunkServers + 1, also: metaServers > 1 ? (2...metaServers).map { Self.metaPort($0, basePort: 0) } : [])
      var arguments = [
        "dev", "up", "--dir", directory, "--base-port", "\(port)", "--chunk-servers", "\(chunkServers)",
        "--meta-servers", "\(metaServers)",
      ]
      if let electionTimeoutMs { arguments += ["--election-timeout-ms", "\(electionTimeoutMs)"] }
      let result = try ProcessRunner.run(Self.binary, arguments + configArguments)
      if result.status == 0 {
        basePort = port
        return
      }
      lastError = result.err + result.out
      _ = try? ProcessRunner.run(Self.binary, ["dev", "down", "--dir", directory])
    }
    throw CairnError(.unavailable, "could not start a test cluster: \(lastError)")
  }

  deinit { stop() }

  /// Stops every process of the cluster (SIGTERM, then SIGKILL) and deletes its directory.
  public func stop() {
    guard !stopped else { return }
    stopped = true
    _ = try? ProcessRunner.run(Self.binary, ["dev", "down", "--dir", directory])
    for (_, pid) in pids() { kill(pid, SIGKILL) }
    try? FileManager.default.removeItem(atPath: directory)
  }

  /// Runs `cairn ARGS` against this cluster.
  @discardableResult
  public func cairn(_ arguments: [String], stdin: Data? = nil, in cwd: String? = nil) throws -> ProcessResult {
    try ProcessRunner.run(
      Self.binary, arguments, environment: ["CAIRN_META": metaAddresses], stdin: stdin, currentDirectory: cwd)
  }

  /// A client library instance for this cluster (knowing every metadata server).
  public func client(timeout: Duration = .seconds(10)) throws -> CairnClient {
    CairnClient(
      metaAddresses: try metaAddresses.split(separator: ",").map { try ServerAddress(parsing: String($0)) },
      timeout: timeout)
  }

  /// Process ids by name (meta, chunk-1, …).
  public func pids() -> [String: pid_t] {
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

  /// SIGKILLs one process of the cluster and waits until it is gone.
  public func kill9(_ name: String) {
    guard let pid = pids()[name] else { return }
    kill(pid, SIGKILL)
    var status: Int32 = 0
    for _ in 0..<100 {
      if kill(pid, 0) != 0 { return }
      _ = waitpid(pid, &status, WNOHANG)
      usleep(20_000)
    }
  }

  /// Sends `signal` to one process of the cluster (SIGSTOP, SIGCONT, SIGTERM…).
  public func signal(_ name: String, _ signal: Int32) {
    if let pid = pids()[name] { kill(pid, signal) }
  }

  /// Restarts a killed (or stopped) metadata server `id` (1-based) with the same data directory,
  /// port and peers.
  public func restartMeta(_ id: Int = 1) throws {
    let name = metaNames[id - 1]
    var arguments = [
      "meta", "serve", "--data-dir", directory + "/" + name, "--listen", metaAddress(of: id), "--chunk-down-after", "4",
    ]
    if metaServers > 1 {
      let peers = (1...metaServers).map { "\($0)=\(metaAddress(of: $0))" }.joined(separator: ",")
      arguments += ["--id", "\(id)", "--peers", peers]
    }
    if let electionTimeoutMs { arguments += ["--election-timeout-ms", "\(electionTimeoutMs)"] }
    try spawn(name: name, arguments + metaConfigArguments)
  }

  /// Restarts a killed chunk server `index` (1-based).
  public func restartChunk(_ index: Int) throws {
    try spawn(
      name: "chunk-\(index)",
      [
        "chunk", "serve", "--data-dir", directory + "/chunk-\(index)", "--listen", "127.0.0.1:\(basePort + index)",
        "--meta", metaAddresses, "--zone", "zone-\(index)", "--heartbeat", "1",
      ] + chunkConfigArguments)
  }

  private func spawn(name: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Self.binary)
    process.arguments = arguments
    let log = FileHandle(forWritingAtPath: directory + "/logs/\(name).log") ?? FileHandle.nullDevice
    log.seekToEndOfFile()
    process.standardOutput = log
    process.standardError = log
    try process.run()
    try "\(process.processIdentifier)\n".write(toFile: directory + "/pids/\(name).pid", atomically: true, encoding: .utf8)
  }

  /// Waits until `condition` holds, polling; throws after `timeout` seconds.
  public func waitUntil(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if (try? condition()) == true { return }
      usleep(100_000)
    }
    throw CairnError(.timeout, "timed out after \(timeout) s waiting for \(what)")
  }

  /// Waits until the metadata server answers and `count` chunk servers are up.
  public func waitHealthy(chunkServersUp count: Int? = nil) throws {
    let needed = count ?? chunkServers
    try waitUntil("\(needed) chunk servers up") {
      let r = try cairn(["cluster", "status", "--json"])
      guard r.status == 0 else { return false }
      return r.out.components(separatedBy: "\"state\" : \"up\"").count - 1 >= needed
    }
  }

  /// Files holding block data on disk, for corruption tests.
  public func blockFiles(chunk index: Int) -> [String] {
    let root = directory + "/chunk-\(index)/blocks/blocks"
    guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
    return e.compactMap { $0 as? String }.map { root + "/" + $0 }.filter {
      var isDir: ObjCBool = false
      return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && !isDir.boolValue
    }
  }

  /// A base port with `count` consecutive free loopback ports (and free ports at the offsets `also`).
  public static func freeBasePort(count: Int, also offsets: [Int] = []) -> Int {
    LoopbackPorts.freeBase(count: count, also: offsets)
  }
}

extension ClusterFixture {
  /// Whether something accepts TCP connections on loopback `port`.
  public static func isListening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    return withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
  }
}
