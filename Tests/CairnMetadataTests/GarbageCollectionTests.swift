import CairnCore
import CairnKV
import CairnMetadata
import XCTest

/// Garbage collection decided in the log: only blocks at reference count zero past the grace are
/// fenced, fenced blocks cannot be referenced again, and placements checked before a deletion
/// finished are refused.
final class GarbageCollectionTests: XCTestCase {
  let grace: Int64 = 10_000_000_000

  func apply(_ f: MetadataFixture, _ command: MetadataCommand) throws {
    _ = try f.machine.applyNext(command)
  }

  func record(_ f: MetadataFixture, _ a: BlockAddress) throws -> BlockRecord? { try f.reader.blockRecord(a) }

  /// A commit of `text` at `path` whose placements carry `epoch`, like a leader's check.
  func commit(_ f: MetadataFixture, _ path: String, _ text: String, epoch: UInt64) throws -> BlockAddress {
    let content = Array(text.utf8)
    let address = BlockAddress.of(content)
    let placement = BlockPlacement(address: address, length: UInt32(content.count), servers: [1, 2], replicas: 3, garbageEpoch: epoch)
    let request = CommitRequest(
      volume: try VolumeName("v"), baseVersion: try f.reader.volume(try VolumeName("v")).headVersion,
      changes: [
        .put(
          try VolumePath(path),
          .file(Manifest(blocks: [BlockRef(address: address, length: UInt32(content.count))]), Attributes(mode: 0o100644, mtimeNanos: 0)))
      ], mode: .merge, idempotencyKey: "", author: "t", message: "")
    _ = try f.machine.applyNext(.commit(request, placements: [placement], timeNanos: f.tick()))
    return address
  }

  func remove(_ f: MetadataFixture, _ path: String) throws {
    try f.commit("v", [.delete(try VolumePath(path), recursive: false)])
  }

  func testUnreferencedBlockIsStampedThenFencedOnlyAfterTheGrace() throws {
    let f = try MetadataFixture()
    try f.create("v", retained: 1)
    let a = try commit(f, "/a", "alpha", epoch: 0)
    XCTAssertEqual(try record(f, a)?.replicas, 3)
    try remove(f, "/a")
    try f.commit("v", [])  // the version holding /a falls out of retention
    XCTAssertEqual(try record(f, a)?.referenceCount, 0)
    XCTAssertEqual(try f.reader.unreferencedBlocks(after: nil, limit: 10), [a])
    let zeroTime = try XCTUnwrap(try record(f, a)?.unreferencedSinceNanos)
    try apply(f, .collectGarbage(unreferenced: [a], orphans: [], graceNanos: grace, timeNanos: zeroTime + grace - 1))
    XCTAssertFalse(try record(f, a)?.isDeleting ?? true, "inside the grace period nothing is fenced")
    try apply(f, .collectGarbage(unreferenced: [a], orphans: [], graceNanos: grace, timeNanos: zeroTime + grace))
    XCTAssertTrue(try record(f, a)?.isDeleting ?? false)
    XCTAssertEqual(try f.reader.blocksKnown([a], quorum: 1), [false], "a fenced block is not offered for dedup")
  }

  func testReferencedBlockIsNeverFenced() throws {
    let f = try MetadataFixture()
    try f.create("v")
    let a = try commit(f, "/a", "alpha", epoch: 0)
    try apply(f, .collectGarbage(unreferenced: [a], orphans: [], graceNanos: 0, timeNanos: f.tick()))
    try apply(f, .collectGarbage(unreferenced: [a], orphans: [BlockPlacement(address: a, length: 5, servers: [1])], graceNanos: 0, timeNanos: f.tick()))
    XCTAssertEqual(try record(f, a)?.isBeingDeleted, nil)
    XCTAssertEqual(try record(f, a)?.referenceCount, 1)
  }

  func testCommitReferencingAFencedBlockIsRefusedRetryably() throws {
    let f = try MetadataFixture()
    try f.create("v", retained: 1)
    let a = try commit(f, "/a", "alpha", epoch: 0)
    try remove(f, "/a")
    try f.commit("v", [])
    try apply(f, .collectGarbage(unreferenced: [a], orphans: [], graceNanos: 0, timeNanos: f.tick()))
    try apply(f, .collectGarbage(unreferenced: [a], orphans: [], graceNanos: 0, timeNanos: f.tick()))
    XCTAssertTrue(try record(f, a)?.isDeleting ?? false)
    XCTAssertThrowsError(try commit(f, "/b", "alpha", epoch: 0)) {
      XCTAssertEqual(($0 as? CairnError)?.code, .missingBlocks)
    }
    XCTAssertEqual(try record(f, a)?.referenceCount, 0)
    // Deleted and forgotten: the epoch moves, an old placement is stale, a fresh one is accepted.
    try apply(f, .forgetBlocks([a]))
    XCTAssertNil(try record(f, a))
    XCTAssertEqual(try f.reader.garbageEpoch(), 1)
    XCTAssertThrowsError(try commit(f, "/b", "alpha", epoch: 0)) {
      XCTAssertEqual(($0 as? CairnError)?.code, .missingBlocks)
    }
    _ = try commit(f, "/b", "alpha", epoch: 1)
    XCTAssertEqual(try record(f, a)?.referenceCount, 1)
    XCTAssertEqual(try f.reader.unreferencedBlocks(after: nil, limit: 10), [])
  }

  func testOrphansAreFencedOnlyWithoutARecordAndReferencedAgainClearsTheZeroTime() throws {
    let f = try MetadataFixture()
    try f.create("v", retained: 1)
    let orphan = BlockAddress.of(Array("never committed".utf8))
    try apply(
      f, .collectGarbage(unreferenced: [], orphans: [BlockPlacement(address: orphan, length: 0, servers: [2])], graceNanos: 0, timeNanos: f.tick()))
    XCTAssertEqual(try record(f, orphan)?.isDeleting, true)
    XCTAssertEqual(try record(f, orphan)?.locations, [2])
    try apply(f, .forgetBlocks([orphan]))
    XCTAssertNil(try record(f, orphan))
    // A block back at zero that gets referenced again loses its zero-time.
    let a = try commit(f, "/a", "alpha", epoch: 1)
    try remove(f, "/a")
    try f.commit("v", [])
    XCTAssertNotNil(try record(f, a)?.unreferencedSinceNanos)
    _ = try commit(f, "/c", "alpha", epoch: 1)
    XCTAssertNil(try record(f, a)?.unreferencedSinceNanos)
    XCTAssertEqual(try f.reader.unreferencedBlocks(after: nil, limit: 10), [])
  }

  func testLocationsAreAddedAndRemovedButNeverOnFencedBlocks() throws {
    let f = try MetadataFixture()
    try f.create("v")
    let a = try commit(f, "/a", "alpha", epoch: 0)
    try apply(f, .recordBlockLocations([BlockPlacement(address: a, length: 5, servers: [3])]))
    XCTAssertEqual(try record(f, a)?.locations, [1, 2, 3])
    try apply(f, .removeBlockLocations([BlockPlacement(address: a, length: 0, servers: [1])]))
    XCTAssertEqual(try record(f, a)?.locations, [2, 3])
  }

  func testDrainingFlagSurvivesReregistration() throws {
    let f = try MetadataFixture()
    try apply(f, .registerChunkServer(ChunkServerRecord(id: 7, address: "127.0.0.1:1", zone: "z", registeredNanos: 1)))
    try apply(f, .setChunkServerDraining(7, isDraining: true))
    try apply(f, .registerChunkServer(ChunkServerRecord(id: 7, address: "127.0.0.1:2", zone: "z", registeredNanos: 2)))
    XCTAssertEqual(try f.reader.chunkServers().first?.isDraining, true)
    XCTAssertThrowsError(try apply(f, .setChunkServerDraining(8, isDraining: true)))
  }
}
