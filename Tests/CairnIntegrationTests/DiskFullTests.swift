import CairnCore
import CairnTestSupport
import Foundation
import XCTest

/// A chunk server whose disk is full refuses puts cleanly and keeps serving; uploads still reach
/// a write quorum on the others.
final class DiskFullTests: XCTestCase {
  var cluster: ClusterFixture?
  var mounted: String?

  override func tearDownWithError() throws {
    cluster?.kill9("chunk-3")
    if let mounted { _ = try? ProcessRunner.run("/bin/umount", ["-l", mounted]) }
    cluster?.stop()
  }

  func testFullChunkServerRefusesPutsAndUploadsStillSucceed() throws {
    cluster = try ClusterFixture(chunkServers: 3)
    let c = try XCTUnwrap(cluster)
    c.kill9("chunk-3")
    let dir = c.directory + "/chunk-3"
    try? FileManager.default.removeItem(atPath: dir)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let mount = try ProcessRunner.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir])
    try XCTSkipIf(mount.status != 0, "cannot mount tmpfs here: \(mount.err)")
    mounted = dir
    try c.restartChunk(3)
    // The restarted server has a new id on its new disk: wait until it is up and the old
    // registration is marked down.
    try c.waitUntil("new chunk-3 up, old one down", timeout: 30) {
      let s = try c.cairn(["cluster", "status", "--json"]).out
      return s.components(separatedBy: "\"state\" : \"up\"").count - 1 == 3
        && s.components(separatedBy: "\"state\" : \"down\"").count - 1 == 1
    }
    XCTAssertEqual(try c.cairn(["volume", "create", "full"]).status, 0)
    let scratch = NSTemporaryDirectory() + "cairn-full-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let bytes = SharedClusterTestCase.randomBytes(6 << 20, seed: 9)
    try Data(bytes).write(to: URL(fileURLWithPath: scratch + "/f"))
    let put = try c.cairn(["volume", "put", "full", scratch + "/f", "/f"])
    XCTAssertEqual(put.status, 0, "two of three copies are enough: \(put.err)")
    XCTAssertEqual([UInt8](try c.cairn(["volume", "get", "full", "/f", "-"]).stdout), bytes)
    // The full server is still up and holds no partial block.
    let status = try c.cairn(["cluster", "status", "--json"]).out
    XCTAssertEqual(status.components(separatedBy: "\"state\" : \"up\"").count - 1, 3, status)
    let tmp = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/blocks/tmp")) ?? []
    XCTAssertTrue(tmp.isEmpty, "no partial block left in tmp: \(tmp)")
    XCTAssertEqual(c.blockFiles(chunk: 3), [], "placement skips a server with no free space")
    for file in c.blockFiles(chunk: 3) {
      let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
      XCTAssertGreaterThan(size, 0)
    }
  }
}
