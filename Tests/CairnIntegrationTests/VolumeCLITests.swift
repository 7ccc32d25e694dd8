import CairnCore
import CairnTestSupport
import Foundation
import XCTest

/// `cairn volume …` end to end against real processes.
final class VolumeCLITests: SharedClusterTestCase {
  func testRoundTripsAtBlockBoundaries() throws {
    try ok(["volume", "create", "small", "--block-size", "65536"])
    let block = 65536
    for (i, size) in [0, 1, block - 1, block, block + 1, 3 * block - 1, 3 * block, 3 * block + 1].enumerated() {
      let local = try write("f\(i)", Self.randomBytes(size, seed: UInt64(size)))
      try ok(["volume", "put", "small", local, "/f\(i)"])
      try ok(["volume", "get", "small", "/f\(i)", scratch + "/back\(i)"])
      XCTAssertEqual(try read(scratch + "/back\(i)"), try read(local), "size \(size)")
      let out = try ok(["volume", "get", "small", "/f\(i)", "-"]).stdout
      XCTAssertEqual([UInt8](out), try read(local), "stdout, size \(size)")
    }
  }

  func testLargeFileRoundTripAndHoles() throws {
    try ok(["volume", "create", "large"])
    var bytes = Self.randomBytes(100 << 20, seed: 7)
    // A 4 MiB hole in the middle is stored as a hole, and read back as zeros.
    for i in (8 << 20)..<(12 << 20) { bytes[i] = 0 }
    let local = try write("big", bytes)
    try ok(["volume", "put", "large", local, "/big"])
    try ok(["volume", "get", "large", "/big", scratch + "/big.back"])
    XCTAssertEqual(try read(scratch + "/big.back"), bytes)
  }

  func testSecondPutOfSameDataUploadsNothing() throws {
    try ok(["volume", "create", "dedup"])
    let local = try write("d/data", Self.randomBytes(9 << 20, seed: 3))
    _ = try write("d/copy", try read(local))
    let first = try ok(["volume", "put", "dedup", scratch + "/d", "/one"]).out
    XCTAssertTrue(first.contains("3 block(s) sent"), first)
    let second = try ok(["volume", "put", "dedup", scratch + "/d", "/two"]).out
    XCTAssertTrue(second.contains("0 block(s) sent"), second)
  }

  func testDirectoryPutListAndGetRecursively() throws {
    try ok(["volume", "create", "tree"])
    _ = try write("src/a.txt", Array("alpha".utf8))
    _ = try write("src/sub/b.txt", Array("beta".utf8))
    XCTAssertEqual(symlink("a.txt", scratch + "/src/link"), 0)
    try ok(["volume", "put", "tree", scratch + "/src", "/data"])
    let listing = try ok(["volume", "ls", "tree", "/data", "--json"]).out
    let rows = try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [[String: Any]] ?? []
    XCTAssertEqual(rows.compactMap { $0["path"] as? String }, ["/data/a.txt", "/data/link", "/data/sub"])
    XCTAssertEqual(rows.compactMap { $0["type"] as? String }, ["file", "symlink", "dir"])
    try ok(["volume", "get", "tree", "/data", scratch + "/out"])
    XCTAssertEqual(try read(scratch + "/out/sub/b.txt"), Array("beta".utf8))
    XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: scratch + "/out/link"), "a.txt")
  }

  func testHistoryRollbackForkAndDiff() throws {
    try ok(["volume", "create", "hist"])
    let v1 = try write("v1", Array("one".utf8))
    let v2 = try write("v2", Array("two".utf8))
    try ok(["volume", "put", "hist", v1, "/f"])
    try ok(["volume", "put", "hist", v2, "/f", "--force"])
    let history = try ok(["volume", "history", "hist", "--json"]).out
    let versions = (try JSONSerialization.jsonObject(with: Data(history.utf8)) as? [[String: Any]] ?? [])
      .compactMap { $0["version"] as? Int }
    XCTAssertEqual(versions, [3, 2, 1])
    XCTAssertTrue(try ok(["volume", "diff", "hist", "2", "3"]).out.contains("M /f"))
    XCTAssertEqual(try ok(["volume", "get", "hist", "/f", "-", "--version", "2"]).out, "one")
    try ok(["volume", "rollback", "hist", "2"])
    XCTAssertEqual(try ok(["volume", "get", "hist", "/f", "-"]).out, "one")
    try ok(["volume", "fork", "hist", "hist-fork", "--version", "3"])
    XCTAssertEqual(try ok(["volume", "get", "hist-fork", "/f", "-"]).out, "two")
  }

  func testRmCpRenameAndDelete() throws {
    try ok(["volume", "create", "ops"])
    let f = try write("x", Array("xx".utf8))
    try ok(["volume", "put", "ops", f, "/d/x"])
    try fails(["volume", "rm", "ops", "/d"], status: 8)
    try ok(["volume", "cp", "ops", "/d", "/e", "-r"])
    try ok(["volume", "rm", "ops", "/d", "-r"])
    XCTAssertEqual(try ok(["volume", "get", "ops", "/e/x", "-"]).out, "xx")
    try ok(["volume", "rename", "ops", "ops2"])
    XCTAssertEqual(try ok(["volume", "get", "ops2", "/e/x", "-"]).out, "xx")
    try fails(["volume", "delete", "ops2"], status: 64)
    try ok(["volume", "delete", "ops2", "--yes"])
    try fails(["volume", "ls", "ops2"], status: 3)
    try ok(["volume", "delete", "ops2", "--yes", "--allow-missing"])
  }

  func testBadInputGetsOneLineErrorAndChangesNothing() throws {
    try ok(["volume", "create", "guarded"])
    let f = try write("g", Array("keep".utf8))
    try ok(["volume", "put", "guarded", f, "/g"])
    try fails(["volume", "create", "Bad_Name"], status: 64)
    try fails(["volume", "ls", "no-such-volume"], status: 3)
    try fails(["volume", "ls", "guarded", "/../etc"], status: 64)
    try fails(["volume", "put", "guarded", scratch + "/missing", "/m"], status: 3)
    let other = try write("g2", Array("other".utf8))
    let err = try fails(["volume", "put", "guarded", other, "/g"], status: 8)
    XCTAssertTrue(err.contains("--force"), err)
    XCTAssertEqual(try ok(["volume", "get", "guarded", "/g", "-"]).out, "keep")
    try fails(["volume", "get", "guarded", "/g", scratch + "/g"], status: 8)  // local file exists
    try fails(["volume", "get", "guarded", "/nope", "-"], status: 3)
    let history = try ok(["volume", "history", "guarded", "--json"]).out
    XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(history.utf8)) as? [Any])?.count, 2)
  }

  func testUnreachableMetadataServerFailsWithinFiveSeconds() throws {
    let port = ClusterFixture.freeBasePort(count: 1)
    let start = Date()
    let r = try ProcessRunner.run(ClusterFixture.binary, ["volume", "list", "--meta", "127.0.0.1:\(port)"])
    XCTAssertEqual(r.status, 5, r.err)
    XCTAssertTrue(r.err.contains("unreachable"), r.err)
    XCTAssertLessThan(Date().timeIntervalSince(start), 5)
  }

  func testPortInUseAndInvalidConfigAreClearErrors() throws {
    let r = try ProcessRunner.run(
      ClusterFixture.binary, ["meta", "serve", "--data-dir", scratch + "/m", "--listen", cluster.metaAddress])
    XCTAssertEqual(r.status, 5)
    XCTAssertTrue(r.err.contains("already in use"), r.err)
    let config = try write("bad.toml", Array("data_dir = \"/tmp/x\"\nlisten = 7\n".utf8))
    let c = try ProcessRunner.run(ClusterFixture.binary, ["meta", "serve", "--config", config])
    XCTAssertEqual(c.status, 64)
    XCTAssertTrue(c.err.contains("listen"), c.err)
    let typo = try write("typo.toml", Array("data_dir = \"/tmp/x\"\nlisen = \"127.0.0.1:1\"\n".utf8))
    let t = try ProcessRunner.run(ClusterFixture.binary, ["meta", "serve", "--config", typo])
    XCTAssertTrue(t.err.contains("unknown keys: lisen"), t.err)
    let missing = try ProcessRunner.run(ClusterFixture.binary, ["meta", "serve", "--config", scratch + "/none.toml"])
    XCTAssertTrue(missing.err.contains("cannot read config file"), missing.err)
  }
}
