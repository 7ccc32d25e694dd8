import CairnClient
import CairnCore
import CairnTestSupport
import CairnTransport
import CairnWire
import Foundation

/// A Raft group of real `cairn meta serve` processes whose peer links all pass through
/// `TCPProxy`s, so a test can isolate a member; clients connect to the members directly.
/// Member k reaches member j at proxy (k→j). Every process is killed in `stop()`.
final class RaftGroup: @unchecked Sendable {
  let directory: String
  let size: Int
  let electionTimeoutMs: Int
  let snapshotEntries: Int?
  let ports: [Int]
  /// proxies[k][j]: member k's link to member j (1-based ids; nil on the diagonal).
  private(set) var proxies: [Int: [Int: TCPProxy]] = [:]
  private var processes: [Int: Process] = [:]
  let pool = ConnectionPool(connectionsPerAddress: 1, connectTimeout: .seconds(1))

  init(size: Int = 3, electionTimeoutMs: Int, snapshotEntries: Int? = nil) throws {
    self.size = size
    self.electionTimeoutMs = electionTimeoutMs
    self.snapshotEntries = snapshotEntries
    directory = NSTemporaryDirectory() + "cairn-raft-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory + "/logs", withIntermediateDirectories: true)
    let base = ClusterFixture.freeBasePort(count: size)
    ports = (0..<size).map { base + $0 }
    for k in 1...size {
      for j in 1...size where j != k { proxies[k, default: [:]][j] = try TCPProxy(targetPort: ports[j - 1]) }
    }
    for k in 1...size { try start(k) }
  }

  deinit { stop() }

  func address(_ k: Int) -> String { "127.0.0.1:\(ports[k - 1])" }
  var addresses: [ServerAddress] { (1...size).map { ServerAddress(host: "127.0.0.1", port: ports[$0 - 1]) } }
  func name(_ k: Int) -> String { "meta-\(k)" }

  /// Starts member k (again), with the same data directory, port and peers.
  func start(_ k: Int) throws {
    let peers = (1...size).map { j in
      j == k ? "\(j)=\(address(j))" : "\(j)=127.0.0.1:\(proxies[k]![j]!.port)"
    }.joined(separator: ",")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ClusterFixture.binary)
    process.arguments = [
      "meta", "serve", "--id", "\(k)", "--peers", peers, "--data-dir", directory + "/\(name(k))", "--listen", address(k),
      "--election-timeout-ms", "\(electionTimeoutMs)",
    ]
    if let snapshotEntries { process.arguments! += ["--snapshot-entries", "\(snapshotEntries)"] }
    let logPath = directory + "/logs/\(name(k)).log"
    if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
    let log = FileHandle(forWritingAtPath: logPath) ?? FileHandle.nullDevice
    log.seekToEndOfFile()
    process.standardOutput = log
    process.standardError = log
    try process.run()
    processes[k] = process
  }

  func pid(_ k: Int) -> pid_t? { processes[k].map { $0.processIdentifier } }

  func signal(_ k: Int, _ sig: Int32) { if let pid = pid(k) { kill(pid, sig) } }

  /// SIGKILLs member k and waits until it is gone.
  func kill9(_ k: Int) {
    guard let process = processes[k] else { return }
    kill(process.processIdentifier, SIGCONT)
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    processes[k] = nil
  }

  /// SIGTERMs member k (a graceful stop) and waits until it exits.
  func terminate(_ k: Int) {
    guard let process = processes[k] else { return }
    kill(process.processIdentifier, SIGTERM)
    process.waitUntilExit()
    processes[k] = nil
  }

  /// Cuts (or restores) every link to and from member k.
  func isolate(_ k: Int, _ cut: Bool = true) {
    for j in 1...size where j != k {
      proxies[k]![j]!.setBlocked(cut)
      proxies[j]![k]!.setBlocked(cut)
    }
  }

  func stop() {
    for (_, process) in processes where process.isRunning {
      kill(process.processIdentifier, SIGCONT)
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
    processes = [:]
    for (_, row) in proxies { for (_, proxy) in row { proxy.stop() } }
    proxies = [:]
  }

  func removeDirectory() { try? FileManager.default.removeItem(atPath: directory) }

  /// A `.raft` request to member k directly.
  func raft(_ k: Int, _ request: RaftRequest, timeout: Duration = .seconds(2)) async throws(CairnError) -> RaftResponse {
    let connection = try await pool.connection(to: addresses[k - 1])
    let reply = try await connection.call(.raft, payload: WireCodec.encode(request), timeout: timeout)
    return try WireCodec.decode(RaftResponse.self, from: reply.payload)
  }

  func status(_ k: Int) async -> MetaMemberStatus? {
    guard case .status(let s)? = try? await raft(k, .status) else { return nil }
    return s
  }

  /// Member k's own applied history of `volume` (no leader check: what this replica holds).
  func history(_ k: Int, volume: VolumeName) async throws(CairnError) -> [VersionInfo] {
    guard case .meta(.history(let list)) = try await raft(k, .localRead(.history(volume, limit: 1_000_000)), timeout: .seconds(10))
    else { throw CairnError(.protocolError, "unexpected reply to a history read") }
    return list
  }

  /// The current leader's id, waiting up to `timeout` seconds for one that all reachable members agree on.
  func waitForLeader(timeout: Double = 20, excluding: Set<Int> = []) async throws -> Int {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      for k in 1...size where !excluding.contains(k) {
        if let s = await status(k), s.role == "leader" { return k }
      }
      try await Task.sleep(for: .milliseconds(50))
    }
    throw CairnError(.timeout, "no leader within \(timeout) s")
  }

  /// Waits until every member has applied the same index as the leader's commit index.
  func waitConverged(timeout: Double = 30) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    var last = ""
    while Date() < deadline {
      var statuses: [MetaMemberStatus] = []
      for k in 1...size { if let s = await status(k) { statuses.append(s) } }
      last = statuses.map { "\($0.id): \($0.role) applied \($0.appliedIndex) commit \($0.commitIndex)" }.joined(separator: "; ")
      if statuses.count == size, let leader = statuses.first(where: { $0.role == "leader" }),
        statuses.allSatisfy({ $0.appliedIndex == leader.commitIndex })
      {
        return
      }
      try await Task.sleep(for: .milliseconds(100))
    }
    throw CairnError(.timeout, "members did not converge: \(last)")
  }

  /// Member k's log.
  func log(_ k: Int) -> String {
    (try? String(contentsOfFile: directory + "/logs/\(name(k)).log", encoding: .utf8)) ?? ""
  }

  func logTails() -> String {
    (1...size).map { k in
      let text = (try? String(contentsOfFile: directory + "/logs/\(name(k)).log", encoding: .utf8)) ?? ""
      return "--- \(name(k))\n" + text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }.joined(separator: "\n")
  }
}

extension RaftGroup {
  /// A single metadata server (no Raft) on a free port, for contrast.
  final class Single: @unchecked Sendable {
    let process = Process()
    let address: ServerAddress

    init() throws {
      let port = ClusterFixture.freeBasePort(count: 1)
      address = ServerAddress(host: "127.0.0.1", port: port)
      process.executableURL = URL(fileURLWithPath: ClusterFixture.binary)
      process.arguments = [
        "meta", "serve", "--data-dir", NSTemporaryDirectory() + "cairn-single-\(UUID().uuidString.prefix(8))",
        "--listen", "\(address)",
      ]
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      try process.run()
    }

    func call(_ request: RaftRequest) async throws(CairnError) -> RaftResponse {
      let deadline = Date().addingTimeInterval(10)
      while true {
        do throws(CairnError) {
          let connection = try await WireConnection.connect(to: address, timeout: .seconds(1))
          defer { connection.close() }
          let reply = try await connection.call(.raft, payload: WireCodec.encode(request), timeout: .seconds(2))
          return try WireCodec.decode(RaftResponse.self, from: reply.payload)
        } catch {
          guard error.code == .unavailable, Date() < deadline else { throw error }
          try? await Task.sleep(for: .milliseconds(100))
        }
      }
    }

    func stop() {
      if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
      }
    }
  }

  static func single() throws -> Single { try Single() }
}
