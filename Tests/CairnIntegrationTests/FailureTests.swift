import CairnCore
import CairnTestSupport
import Foundation
import XCTest

/// Crashes and corruption on real processes.
final class FailureTests: XCTestCase {
  var cluster: ClusterFixture?
  var scratch = ""

  override func setUpWithError() throws {
    cluster = try ClusterFixture(chunkServers: 3, metaServers: 1)
    scratch = NSTemporaryDirectory() + "cairn-fail-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    cluster?.stop()
    try? FileManager.default.removeItem(atPath: scratch)
  }

  func testKillingMetadataServerMidPutLeavesOldOrNewVersionNeverHalf() throws {
    let c = try XCTUnwrap(cluster)
    XCTAssertEqual(try c.cairn(["volume", "create", "crash"]).status, 0)
    let small = scratch + "/small"
    try Data("acknowledged".utf8).write(to: URL(fileURLWithPath: small))
    XCTAssertEqual(try c.cairn(["volume", "put", "crash", small, "/acked"]).status, 0)
    // A directory of many files so the put is in flight when the server dies.
    let dir = scratch + "/many"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for i in 0..<40 {
      try Data(SharedClusterTestCase.randomBytes(1 << 20, seed: UInt64(i))).write(to: URL(fileURLWithPath: dir + "/f\(i)"))
    }
    let put = Process()
    put.executableURL = URL(fileURLWithPath: ClusterFixture.binary)
    put.arguments = ["volume", "put", "crash", dir, "/many"]
    put.environment = ["CAIRN_META": c.metaAddress]
    put.standardOutput = FileHandle.nullDevice
    put.standardError = FileHandle.nullDevice
    try put.run()
    usleep(300_000)
    c.kill9("meta")
    put.waitUntilExit()
    try c.restartMeta()
    try c.waitHealthy()
    let r = try c.cairn(["volume", "ls", "crash", "/", "--json"])
    XCTAssertEqual(r.status, 0, r.err)
    // The acknowledged commit survived.
    XCTAssertEqual(try c.cairn(["volume", "get", "crash", "/acked", "-"]).out, "acknowledged")
    let listing = try c.cairn(["volume", "ls", "crash", "/many", "--json"])
    if put.terminationStatus == 0 {
      XCTAssertEqual(listing.status, 0)
    }
    if listing.status == 0 {
      // If the put committed, every file is complete.
      let rows = try JSONSerialization.jsonObject(with: listing.stdout) as? [[String: Any]] ?? []
      XCTAssertEqual(rows.count, 40, "a committed put has all 40 files, never some")
      for row in rows { XCTAssertEqual(row["size"] as? Int, 1 << 20) }
    } else {
      XCTAssertEqual(listing.status, 3, "the put did not commit: /many must not exist at all")
    }
  }

  func testCorruptReplicaIsSkippedAndAllCorruptFailsLoudly() throws {
    let c = try XCTUnwrap(cluster)
    XCTAssertEqual(try c.cairn(["volume", "create", "rot"]).status, 0)
    let bytes = SharedClusterTestCase.randomBytes(3 << 20, seed: 11)
    let local = scratch + "/rot"
    try Data(bytes).write(to: URL(fileURLWithPath: local))
    XCTAssertEqual(try c.cairn(["volume", "put", "rot", local, "/rot"]).status, 0)
    // Flip a byte in the middle of the block on one server: reads use another replica.
    let first = try XCTUnwrap(c.blockFiles(chunk: 1).first)
    try flipByte(first)
    for _ in 0..<3 {
      let r = try c.cairn(["volume", "get", "rot", "/rot", "-"])
      XCTAssertEqual(r.status, 0, r.err)
      XCTAssertEqual([UInt8](r.stdout), bytes)
    }
    // Corrupt the other replicas too (chunk-1's copy is already corrupt or quarantined; flipping
    // it again would restore it): the read fails loudly and writes nothing.
    for i in 2...3 { for f in c.blockFiles(chunk: i) { try flipByte(f) } }
    let r = try c.cairn(["volume", "get", "rot", "/rot", scratch + "/out"])
    XCTAssertEqual(r.status, 7, r.err)
    XCTAssertTrue(r.err.contains("corrupt") || r.err.contains("no good copy"), r.err)
    XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/out"), "no partial file is left behind")
  }

  func flipByte(_ path: String) throws {
    guard FileManager.default.fileExists(atPath: path) else { return }
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    let size = try handle.seekToEnd()
    let offset = size > 200 ? size / 2 : size - 1
    try handle.seek(toOffset: offset)
    let byte = try handle.read(upToCount: 1) ?? Data([0])
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: Data([byte[0] ^ 0xFF]))
  }

  func testKilledChunkServerDoesNotStopReadsOrWrites() throws {
    let c = try XCTUnwrap(cluster)
    XCTAssertEqual(try c.cairn(["volume", "create", "one-down"]).status, 0)
    let bytes = SharedClusterTestCase.randomBytes(5 << 20, seed: 5)
    let local = scratch + "/f"
    try Data(bytes).write(to: URL(fileURLWithPath: local))
    XCTAssertEqual(try c.cairn(["volume", "put", "one-down", local, "/before"]).status, 0)
    c.kill9("chunk-2")
    XCTAssertEqual([UInt8](try c.cairn(["volume", "get", "one-down", "/before", "-"]).stdout), bytes)
    try c.waitUntil("chunk-2 marked down", timeout: 15) {
      try c.cairn(["cluster", "status", "--json"]).out.contains("\"state\" : \"down\"")
    }
    let w = try c.cairn(["volume", "put", "one-down", local, "/after"])
    XCTAssertEqual(w.status, 0, "a write quorum (2 of 3) remains: \(w.err)")
    XCTAssertEqual([UInt8](try c.cairn(["volume", "get", "one-down", "/after", "-"]).stdout), bytes)
  }
}
