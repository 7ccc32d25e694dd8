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
  public var metaAddress: String { "127.0.0.1:\(basePort)" }
  private var stopped = false

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

  public init(chunkServers: Int = 3) throws {
    self.chunkServers = chunkServers
    directory = NSTemporaryDirectory() + "cairn-test-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var lastError = ""
    for _ in 0..<5 {
      let port = Self.freeBasePort(count: chunkServers + 1)
      let result = try ProcessRunner.run(
        Self.binary,
        ["dev", "up", "--dir", directory, "--base-port", "\(port)", "--chunk-servers", "\(chunkServers)"])
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
      Self.binary, arguments, environment: ["CAIRN_META": metaAddress], stdin: stdin, currentDirectory: cwd)
  }

  /// A client library instance for this cluster.
  public func client() throws -> CairnClient {
    CairnClient(metaAddresses: [try ServerAddress(parsing: metaAddress)], timeout: .seconds(10))
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

  /// Restarts a killed metadata server with the same data directory and port.
  public func restartMeta() throws {
    try spawn(
      name: "meta",
      ["meta", "serve", "--data-dir", directory + "/meta", "--listen", metaAddress, "--chunk-down-after", "4"])
  }

  /// Restarts a killed chunk server `index` (1-based).
  public func restartChunk(_ index: Int) throws {
    try spawn(
      name: "chunk-\(index)",
      [
        "chunk", "serve", "--data-dir", directory + "/chunk-\(index)", "--listen", "127.0.0.1:\(basePort + index)",
        "--meta", metaAddress, "--zone", "zone-\(index)", "--heartbeat", "1",
      ])
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

  /// A base port with `count` consecutive free loopback ports.
  public static func freeBasePort(count: Int) -> Int {
    for _ in 0..<200 {
      let base = Int.random(in: 20000..<50000)
      if (0..<count).allSatisfy({ isFree(base + $0) }) { return base }
    }
    return Int.random(in: 20000..<50000)
  }

  static func isFree(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    return withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
  }
}
