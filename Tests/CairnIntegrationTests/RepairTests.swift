import CairnCore
import CairnTestSupport
import Foundation
import XCTest

/// Chunk servers die mid-upload and mid-read, return corrupt bytes or stall: reads stay correct,
/// and repair brings every committed block back to three healthy copies. Blocks and replicas are
/// counted before and after.
final class RepairTests: ChunkTierTestCase {
  /// 12 one-block files under /many, written while servers are being killed.
  func makeManyFiles() throws -> [[UInt8]] {
    try FileManager.default.createDirectory(atPath: scratch + "/many", withIntermediateDirectories: true)
    return try (0..<12).map { try localFile("many/f\($0)", size: 1 << 20, seed: 100 + UInt64($0)) }
  }

  func checkManyFiles(_ c: ClusterFixture, _ files: [[UInt8]]) throws {
    for (i, bytes) in files.enumerated() { XCTAssertEqual(try get(c, "v", "/many/f\(i)"), bytes, "file \(i)") }
  }

  func testKillTwoOfFiveMidUploadAndMidReadThenRepairRestoresEveryCopy() throws {
    // Three metadata servers: repair runs on the Raft leader.
    let c = try start(chunkServers: 5, metaServers: 3)
    XCTAssertEqual(try c.cairn(["volume", "create", "v"]).status, 0)
    let before = try localFile("before", size: 10 << 20, seed: 1)  // 3 blocks
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/before", "/before"]).status, 0)
    try waitFullyReplicated(c, blocks: 3)
    let files = try makeManyFiles()
    let reader = try spawn(c, ["volume", "get", "v", "/before", scratch + "/read-during-kill"])
    let put = try spawn(c, ["volume", "put", "v", scratch + "/many", "/many", "--jobs", "2"])
    usleep(150_000)
    c.kill9("chunk-1")
    c.kill9("chunk-2")
    put.waitUntilExit()
    reader.waitUntilExit()
    XCTAssertEqual(put.terminationStatus, 0, "a write quorum is reachable on the three survivors: \(output(put))")
    if reader.terminationStatus == 0 {
      XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch + "/read-during-kill"))), before)
    }
    XCTAssertEqual(try get(c, "v", "/before"), before, "a read right after the kill returns the bytes")
    // 3 + 12 blocks, each back to three copies, all on the survivors.
    try waitFullyReplicated(c, blocks: 15, downServers: 2)
    XCTAssertEqual(blockFileCount(c, 3...5), 15 * 3, "every copy is on disk on the three survivors")
    XCTAssertGreaterThan(try health(c)["repairCopiesDone"] ?? 0, 0)
    XCTAssertEqual(try get(c, "v", "/before"), before)
    try checkManyFiles(c, files)
  }

  func testKillOneOfThreeMidUploadAndMidReadThenItsReturnIsRepaired() throws {
    let c = try start(chunkServers: 3)
    XCTAssertEqual(try c.cairn(["volume", "create", "v"]).status, 0)
    let before = try localFile("before", size: 10 << 20, seed: 2)  // 3 blocks
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/before", "/before"]).status, 0)
    let files = try makeManyFiles()
    let reader = try spawn(c, ["volume", "get", "v", "/before", scratch + "/read-during-kill"])
    let put = try spawn(c, ["volume", "put", "v", scratch + "/many", "/many", "--jobs", "2"])
    usleep(150_000)
    c.kill9("chunk-2")
    put.waitUntilExit()
    reader.waitUntilExit()
    XCTAssertEqual(put.terminationStatus, 0, "two of three copies are a write quorum: \(output(put))")
    XCTAssertEqual(reader.terminationStatus, 0, "a read in flight survives the kill: \(output(reader))")
    XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch + "/read-during-kill"))), before)
    try checkManyFiles(c, files)
    // Blocks written while chunk-2 was down have two copies; when it returns, repair copies the
    // missing ones onto it (the only server that can take a third copy).
    try c.restartChunk(2)
    try waitFullyReplicated(c, blocks: 15)
    XCTAssertEqual(c.blockFiles(chunk: 2).count, 15)
    try checkManyFiles(c, files)
  }

  func testScrubFindsACorruptCopyAndRepairReplacesItBeforeDeletingIt() throws {
    let c = try start(chunkServers: 3, chunk: Self.fastScrub)
    XCTAssertEqual(try c.cairn(["volume", "create", "v"]).status, 0)
    let bytes = try localFile("f", size: 3 << 20, seed: 7)
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/f", "/f"]).status, 0)
    try waitFullyReplicated(c, blocks: 1)
    let file = try XCTUnwrap(c.blockFiles(chunk: 1).first)
    try corrupt(file)
    try c.waitUntil("the corrupt copy found, confirmed and repaired", timeout: 30) {
      let h = try health(c)
      return (h["corruptReplicas"] ?? 0) >= 1 && h["corruptPendingRepair"] == 0 && h["replicas"] == 3
        && h["underReplicated"] == 0
    }
    // The repaired copy is back in place and verified; the quarantined one was deleted after.
    XCTAssertEqual(c.blockFiles(chunk: 1).count, 1)
    try c.waitUntil("quarantine emptied", timeout: 10) {
      ((try? FileManager.default.contentsOfDirectory(atPath: c.directory + "/chunk-1/blocks/quarantine")) ?? ["x"]).isEmpty
    }
    c.kill9("chunk-2")
    c.kill9("chunk-3")
    XCTAssertEqual(try get(c, "v", "/f"), bytes, "the repaired copy alone serves the file")
  }

  func testStoppedReplicaDoesNotStallReads() throws {
    let c = try start(chunkServers: 3)
    XCTAssertEqual(try c.cairn(["volume", "create", "v"]).status, 0)
    let bytes = try localFile("f", size: 24 << 20, seed: 3)  // 6 blocks
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/f", "/f"]).status, 0)
    let more = try localFile("more", size: 8 << 20, seed: 4)
    let pid = try XCTUnwrap(c.pids()["chunk-1"])
    kill(pid, SIGSTOP)
    stopped.append(pid)
    // Before chunk-1 is even marked down, hedged reads go around it and writes return once a
    // quorum of the other replicas has the block.
    var start = Date()
    XCTAssertEqual(try get(c, "v", "/f"), bytes)
    XCTAssertLessThan(Date().timeIntervalSince(start), 10, "a read must not wait for the stopped server's timeout")
    start = Date()
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/more", "/more"]).status, 0)
    XCTAssertLessThan(Date().timeIntervalSince(start), 10, "a write must not wait for the stopped server")
    kill(pid, SIGCONT)
    XCTAssertEqual(try get(c, "v", "/f"), bytes)
    XCTAssertEqual(try get(c, "v", "/more"), more)
    try waitFullyReplicated(c, blocks: 8)
  }

  func testDrainMovesEveryBlockOffAServer() throws {
    let c = try start(chunkServers: 4)
    XCTAssertEqual(try c.cairn(["volume", "create", "v"]).status, 0)
    let files = try makeManyFiles()
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/many", "/many"]).status, 0)
    try waitFullyReplicated(c, blocks: 12)
    let id = try chunkId(c, 1)
    let held = c.blockFiles(chunk: 1).count
    XCTAssertGreaterThan(held, 0)
    let drain = try c.cairn(["cluster", "drain-chunk", "\(id)", "--wait", "--wait-timeout", "60"])
    XCTAssertEqual(drain.status, 0, drain.err + drain.out)
    XCTAssertTrue(drain.out.contains("is drained"), drain.out)
    try waitFullyReplicated(c, blocks: 12)
    XCTAssertEqual(c.blockFiles(chunk: 1).count, 0, "drained copies are deleted")
    XCTAssertEqual(blockFileCount(c, 2...4), 36)
    let row = (try status(c)["chunkServers"] as? [[String: Any]] ?? []).first { ($0["id"] as? Int).map(UInt64.init) == id }
    XCTAssertEqual(row?["draining"] as? Bool, true)
    // New blocks avoid the draining server.
    try localFile("new", size: 1 << 20, seed: 999)
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/new", "/new"]).status, 0)
    XCTAssertEqual(c.blockFiles(chunk: 1).count, 0)
    c.kill9("chunk-1")
    try checkManyFiles(c, files)
  }

  func testTornBlockFilesAfterAPowerCutAreNeverServedAndAreRepaired() throws {
    let c = try start(chunkServers: 3)
    XCTAssertEqual(try c.cairn(["volume", "create", "v"]).status, 0)
    let bytes = try localFile("f", size: 10 << 20, seed: 21)  // 3 blocks
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/f", "/f"]).status, 0)
    try waitFullyReplicated(c, blocks: 3)
    // "Power cut" of chunk-1: killed, a block file cut in half and a torn put left in tmp/.
    c.kill9("chunk-1")
    let files = c.blockFiles(chunk: 1)
    XCTAssertEqual(files.count, 3)
    let size = (try FileManager.default.attributesOfItem(atPath: files[0])[.size] as? Int) ?? 0
    XCTAssertEqual(truncate(files[0], off_t(size / 2)), 0)
    try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: c.directory + "/chunk-1/blocks/tmp/torn.1.tmp"))
    try c.restartChunk(1)
    // The torn file is quarantined at start, reported, dropped from the record and copied again.
    try c.waitUntil("the torn copy replaced", timeout: 40) {
      let h = try health(c)
      return (h["corruptReplicas"] ?? 0) >= 1 && h["replicas"] == 9 && h["underReplicated"] == 0
        && h["unreachable"] == 0 && c.blockFiles(chunk: 1).count == 3
    }
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: c.directory + "/chunk-1/blocks/tmp"), [])
    c.kill9("chunk-2")
    c.kill9("chunk-3")
    XCTAssertEqual(try get(c, "v", "/f"), bytes, "chunk-1 alone serves every block, whole")
  }

  func testReadThatMeetsACorruptCopyFallsBackAndTheCopyIsRepaired() throws {
    // No background scrub pass after start-up (the default pause is an hour): the read finds it.
    let c = try start(chunkServers: 3)
    XCTAssertEqual(try c.cairn(["volume", "create", "v"]).status, 0)
    let bytes = try localFile("f", size: 8 << 20, seed: 31)  // 2 blocks
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/f", "/f"]).status, 0)
    try waitFullyReplicated(c, blocks: 2)
    for file in c.blockFiles(chunk: 1) { try corrupt(file) }
    c.kill9("chunk-2")  // so that reads must meet chunk-1's copies
    XCTAssertEqual(try get(c, "v", "/f"), bytes, "the read falls back to chunk-3's copies")
    try c.restartChunk(2)
    try c.waitUntil("the corrupt copies reported and replaced", timeout: 40) {
      let h = try health(c)
      return (h["corruptReplicas"] ?? 0) >= 2 && h["replicas"] == 6 && h["underReplicated"] == 0
        && h["corruptPendingRepair"] == 0 && h["unreachable"] == 0
    }
    c.kill9("chunk-2")
    c.kill9("chunk-3")
    XCTAssertEqual(try get(c, "v", "/f"), bytes, "chunk-1's repaired copies alone serve the file")
  }

  func testReadThatMeetsAnIOErrorFallsBackAndTheCopyIsRepaired() throws {
    // An I/O error on a block (its path turned into a directory: read(2) fails with EISDIR, as
    // it would with EIO on a bad sector) marks that copy bad and repair replaces it.
    let c = try start(chunkServers: 3)
    XCTAssertEqual(try c.cairn(["volume", "create", "v"]).status, 0)
    let bytes = try localFile("f", size: 8 << 20, seed: 37)  // 2 blocks
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/f", "/f"]).status, 0)
    try waitFullyReplicated(c, blocks: 2)
    let broken = c.blockFiles(chunk: 1)
    XCTAssertEqual(broken.count, 2)
    for file in broken {
      try FileManager.default.removeItem(atPath: file)
      try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: false)
    }
    c.kill9("chunk-2")  // so that reads must meet chunk-1's unreadable copies
    XCTAssertEqual(try get(c, "v", "/f"), bytes, "the read falls back to chunk-3's copies")
    try c.restartChunk(2)
    try c.waitUntil("the unreadable copies reported and replaced", timeout: 40) {
      let h = try health(c)
      var isDirectory: ObjCBool = false
      let replaced = broken.allSatisfy {
        FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue
      }
      return replaced && h["replicas"] == 6 && h["underReplicated"] == 0 && h["corruptPendingRepair"] == 0
        && h["unreachable"] == 0
    }
    c.kill9("chunk-2")
    c.kill9("chunk-3")
    XCTAssertEqual(try get(c, "v", "/f"), bytes, "chunk-1's repaired copies alone serve the file")
  }

  func testNewMetadataLeaderTakesOverRepair() throws {
    let c = try start(chunkServers: 4, metaServers: 3)
    XCTAssertEqual(try c.cairn(["volume", "create", "v"]).status, 0)
    let files = try makeManyFiles()
    XCTAssertEqual(try c.cairn(["volume", "put", "v", scratch + "/many", "/many"]).status, 0)
    try waitFullyReplicated(c, blocks: 12)
    let leader = try XCTUnwrap(try status(c)["leaderId"] as? Int, "a Raft leader")
    // The leader dies together with a chunk server: only the next leader can repair.
    c.kill9("meta-\(leader)")
    c.kill9("chunk-1")
    try waitFullyReplicated(c, blocks: 12, downServers: 1)
    let newLeader = try XCTUnwrap(try status(c)["leaderId"] as? Int)
    XCTAssertNotEqual(newLeader, leader)
    XCTAssertEqual(blockFileCount(c, 2...4), 36)
    try checkManyFiles(c, files)
  }
}
