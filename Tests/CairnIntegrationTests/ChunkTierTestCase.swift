import CairnCore
import CairnTestSupport
import Foundation
import XCTest

/// Shared helpers for the replicated chunk tier tests: clusters with short repair, GC and scrub
/// timings, block-health polling from `cairn cluster status --json`, and background processes.
class ChunkTierTestCase: XCTestCase {
  var cluster: ClusterFixture?
  var scratch = ""
  var stopped: [pid_t] = []
  private var logs: [ObjectIdentifier: String] = [:]

  /// What a process started by `spawn` wrote.
  func output(_ p: Process) -> String {
    logs[ObjectIdentifier(p)].flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
  }

  /// Repair acts 1 s after a server is marked down (4 s without heartbeats in dev clusters).
  static let fastRepair = """
    repair_grace_seconds = 1
    repair_interval_seconds = 1
    gc_grace_seconds = 600
    gc_interval_seconds = 5
    """

  static let fastScrub = """
    scrub_bytes_per_second = 200000000
    scrub_pause_seconds = 1
    """

  override func setUpWithError() throws {
    scratch = NSTemporaryDirectory() + "cairn-tier-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    for pid in stopped { kill(pid, SIGCONT) }
    cluster?.stop()
    try? FileManager.default.removeItem(atPath: scratch)
  }

  /// A cluster with short repair timings; one metadata server unless `metaServers` says otherwise
  /// (repair and GC then run on the Raft leader only).
  func start(chunkServers: Int, metaServers: Int = 1, meta: String = fastRepair, chunk: String? = nil) throws
    -> ClusterFixture
  {
    let c = try ClusterFixture(chunkServers: chunkServers, metaServers: metaServers, metaConfig: meta, chunkConfig: chunk)
    cluster = c
    return c
  }

  /// The parsed `cluster status --json`.
  func status(_ c: ClusterFixture) throws -> [String: Any] {
    let r = try c.cairn(["cluster", "status", "--json"])
    guard r.status == 0 else { throw CairnError(.unavailable, "cluster status failed: \(r.err)") }
    return try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any] ?? [:]
  }

  /// Block-health counters (`blocks` in the status), zero when the leader has not counted yet.
  func health(_ c: ClusterFixture) throws -> [String: Int] {
    let blocks = try status(c)["blocks"] as? [String: Any] ?? [:]
    return blocks.compactMapValues { $0 as? Int }
  }

  /// Chunk server id of `chunk-INDEX` (its port is base + index).
  func chunkId(_ c: ClusterFixture, _ index: Int) throws -> UInt64 {
    let rows = try status(c)["chunkServers"] as? [[String: Any]] ?? []
    let row = rows.first { ($0["address"] as? String) == "127.0.0.1:\(c.basePort + index)" && ($0["state"] as? String) == "up" }
    guard let id = row?["id"] as? UInt64 ?? (row?["id"] as? Int).map(UInt64.init) else {
      throw CairnError(.notFound, "chunk-\(index) not in the status")
    }
    return id
  }

  /// Waits until a full repair pass has seen `blocks` blocks each with `replicas` healthy copies
  /// (a pass that started after `downServers` chunk servers were marked down, when given: a pass
  /// from before would still count the killed servers' copies).
  func waitFullyReplicated(
    _ c: ClusterFixture, blocks: Int, replicas: Int = 3, downServers: Int? = nil, timeout: Double = 40
  ) throws {
    var after = 0
    if let downServers {
      try c.waitUntil("\(downServers) chunk server(s) marked down", timeout: 20) {
        let rows = try status(c)["chunkServers"] as? [[String: Any]] ?? []
        return rows.filter { ($0["state"] as? String) == "down" }.count >= downServers
      }
      after = try health(c)["lastPassUnixMillis"] ?? 0
    }
    var last: [String: Int] = [:]
    do {
      try c.waitUntil("every block with \(replicas) copies", timeout: timeout) {
        last = try health(c)
        return last["blocks"] == blocks && last["replicas"] == blocks * replicas && last["underReplicated"] == 0
          && last["unreachable"] == 0 && (last["lastPassUnixMillis"] ?? 0) > after
      }
    } catch {
      XCTFail("not fully replicated: \(last)")
      throw error
    }
  }

  /// Writes a local file of `size` pseudo-random bytes and returns them.
  @discardableResult
  func localFile(_ name: String, size: Int, seed: UInt64) throws -> [UInt8] {
    let bytes = SharedClusterTestCase.randomBytes(size, seed: seed)
    try Data(bytes).write(to: URL(fileURLWithPath: scratch + "/" + name))
    return bytes
  }

  /// Starts `cairn ARGS` in the background.
  func spawn(_ c: ClusterFixture, _ arguments: [String], environment: [String: String] = [:]) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: ClusterFixture.binary)
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(["CAIRN_META": c.metaAddress].merging(environment) { $1 }) { $1 }
    let logPath = scratch + "/spawn-\(UUID().uuidString.prefix(6)).log"
    FileManager.default.createFile(atPath: logPath, contents: nil)
    let log = FileHandle(forWritingAtPath: logPath)
    p.standardOutput = log
    p.standardError = log
    logs[ObjectIdentifier(p)] = logPath
    try p.run()
    return p
  }

  func get(_ c: ClusterFixture, _ volume: String, _ path: String) throws -> [UInt8] {
    let r = try c.cairn(["volume", "get", volume, path, "-"])
    XCTAssertEqual(r.status, 0, r.err)
    return [UInt8](r.stdout)
  }

  /// Block files on the disks of chunk servers `indexes`.
  func blockFileCount(_ c: ClusterFixture, _ indexes: ClosedRange<Int>) -> Int {
    indexes.reduce(0) { $0 + c.blockFiles(chunk: $1).count }
  }

  /// Flips one byte in the middle of a file on disk (bit rot).
  func corrupt(_ path: String) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    let size = try handle.seekToEnd()
    let offset = size > 200 ? size / 2 : size - 1
    try handle.seek(toOffset: offset)
    let byte = try handle.read(upToCount: 1) ?? Data([0])
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: Data([byte[0] ^ 0xFF]))
  }
}
