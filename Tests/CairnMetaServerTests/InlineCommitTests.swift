import CairnCore
import XCTest

@testable import CairnMetaServer

/// Which commits take the inline path (no task, no chunk-server check): those whose files
/// reference no stored blocks. Holes (no address) need no check.
final class InlineCommitTests: XCTestCase {
  func commit(_ changes: [Change]) throws -> CommitRequest {
    CommitRequest(
      volume: try VolumeName("v"), baseVersion: 0, changes: changes, mode: .merge, idempotencyKey: "k", author: "a",
      message: "")
  }

  func testOnlyCommitsWithoutStoredBlocksAreInline() throws {
    let attributes = Attributes(mode: 0o100644, mtimeNanos: 0)
    let address = try BlockAddress(digest: Array(repeating: 7, count: 32))
    let empty = try commit([.put(try VolumePath("/a"), .file(Manifest(), attributes))])
    let hole = try commit([
      .put(try VolumePath("/a"), .file(Manifest(blocks: [BlockRef(address: nil, length: 9)]), attributes))
    ])
    let directory = try commit([
      .put(try VolumePath("/d"), .directory(Attributes(mode: 0o040755, mtimeNanos: 0))),
      .delete(try VolumePath("/x"), recursive: true),
    ])
    let stored = try commit([
      .put(try VolumePath("/d"), .directory(Attributes(mode: 0o040755, mtimeNanos: 0))),
      .put(try VolumePath("/b"), .file(Manifest(blocks: [BlockRef(address: address, length: 9)]), attributes)),
    ])
    XCTAssertFalse(MetaService.referencesBlocks(empty))
    XCTAssertFalse(MetaService.referencesBlocks(hole))
    XCTAssertFalse(MetaService.referencesBlocks(directory))
    XCTAssertTrue(MetaService.referencesBlocks(stored))
  }
}
