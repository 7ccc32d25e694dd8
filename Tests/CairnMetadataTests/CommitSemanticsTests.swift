import CairnCore
import CairnKV
import CairnMetadata
import XCTest

final class CommitSemanticsTests: XCTestCase {
  func testCreateVolumeStartsAtVersionOneWithEmptyRoot() throws {
    let f = try MetadataFixture()
    let info = try f.create("demo")
    XCTAssertEqual(info.headVersion, 1)
    XCTAssertEqual(try f.names("demo"), [])
    XCTAssertThrowsError(try f.create("demo")) { XCTAssertEqual(($0 as? CairnError)?.code, .alreadyExists) }
  }

  func testPutCreatesParentsAndEachCommitIsANewVersion() throws {
    let f = try MetadataFixture()
    try f.create("v")
    let r = try f.commit("v", [.put(p("/a/b/c.txt"), f.file("hello"))])
    XCTAssertEqual(r.version, 2)
    XCTAssertEqual(try f.names("v"), ["a"])
    XCTAssertEqual(try f.names("v", "/a/b"), ["c.txt"])
    XCTAssertEqual(try f.names("v", version: 1), [])
    let info = try f.reader.volume(try VolumeName("v"))
    XCTAssertEqual(info.fileCount, 1)
    XCTAssertEqual(info.totalBytes, 5)
  }

  func testOldVersionsStayReadableAfterOverwriteAndDelete() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/x"), f.file("one"))])
    try f.commit("v", [.put(p("/x"), f.file("two!"))])
    try f.commit("v", [.delete(p("/x"), recursive: false)])
    let name = try VolumeName("v")
    XCTAssertEqual(try f.reader.lookup(name, path: p("/x"), version: 2).entry.size, 3)
    XCTAssertEqual(try f.reader.lookup(name, path: p("/x"), version: 3).entry.size, 4)
    XCTAssertFalse(try f.exists("v", "/x"))
    XCTAssertEqual(
      try f.reader.lookup(name, path: p("/x"), version: 2).entry.inode,
      try f.reader.lookup(name, path: p("/x"), version: 3).entry.inode, "overwriting keeps the inode")
  }

  func testMergeModeIsLastWriterWinsPerPath() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/a"), f.file("A1")), .put(p("/b"), f.file("B1"))])
    // Two writers both based on version 2.
    try f.commit("v", [.put(p("/a"), f.file("A2"))], base: 2)
    try f.commit("v", [.put(p("/b"), f.file("B2"))], base: 2)
    let name = try VolumeName("v")
    let a = try f.reader.lookup(name, path: p("/a"), version: nil)
    let b = try f.reader.lookup(name, path: p("/b"), version: nil)
    XCTAssertEqual(a.entry.manifest.blocks.first?.address, BlockAddress.of(Array("A2".utf8)))
    XCTAssertEqual(b.entry.manifest.blocks.first?.address, BlockAddress.of(Array("B2".utf8)))
  }

  func testStrictCommitReportsConflictingPaths() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/a"), f.file("A1")), .put(p("/b"), f.file("B1"))])
    try f.commit("v", [.put(p("/a"), f.file("A2"))], base: 2)
    XCTAssertThrowsError(
      try f.commit("v", [.put(p("/a"), f.file("A3")), .put(p("/c"), f.file("C"))], base: 2, mode: .strict)
    ) { error in
      let e = error as? CairnError
      XCTAssertEqual(e?.code, .conflict)
      XCTAssertEqual(e?.details, ["/a"])
    }
    XCTAssertEqual(try f.reader.volume(try VolumeName("v")).headVersion, 3, "a refused commit writes nothing")
    // Strict on a non-conflicting path succeeds.
    XCTAssertEqual(try f.commit("v", [.put(p("/b"), f.file("B2"))], base: 2, mode: .strict).version, 4)
  }

  func testRepeatedIdempotencyKeyReturnsFirstResultAndAppliesNothing() throws {
    let f = try MetadataFixture()
    try f.create("v")
    let first = try f.commit("v", [.put(p("/a"), f.file("A"))], key: "k1")
    let again = try f.commit("v", [.put(p("/a"), f.file("B"))], key: "k1")
    XCTAssertEqual(first.version, again.version)
    XCTAssertTrue(again.wasDuplicate)
    XCTAssertEqual(try f.reader.volume(try VolumeName("v")).headVersion, 2)
  }

  func testCommitReferencingUnknownBlockIsRefused() throws {
    let f = try MetadataFixture()
    try f.create("v")
    XCTAssertThrowsError(try f.commit("v", [.put(p("/a"), f.file("never uploaded"))], placeBlocks: false)) { error in
      XCTAssertEqual((error as? CairnError)?.code, .missingBlocks)
      XCTAssertEqual((error as? CairnError)?.details.count, 1)
    }
    XCTAssertFalse(try f.exists("v", "/a"))
  }

  func testDeleteOfNonEmptyDirectoryNeedsRecursive() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/d/e/f"), f.file("x"))])
    XCTAssertThrowsError(try f.commit("v", [.delete(p("/d"), recursive: false)])) {
      XCTAssertEqual(($0 as? CairnError)?.code, .directoryNotEmpty)
    }
    try f.commit("v", [.delete(p("/d"), recursive: true)])
    XCTAssertEqual(try f.names("v"), [])
    // Re-creating the directory does not resurrect old children.
    try f.commit("v", [.put(p("/d"), .directory(Attributes(mode: 0o040755, mtimeNanos: 0)))])
    XCTAssertEqual(try f.names("v", "/d"), [])
    XCTAssertEqual(try f.reader.volume(try VolumeName("v")).fileCount, 0)
  }

  func testRenameDirectoryMovesTreeAndKeepsInodes() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/d/x"), f.file("x")), .put(p("/d/sub/y"), f.file("y"))])
    let name = try VolumeName("v")
    let inode = try f.reader.lookup(name, path: p("/d/sub/y"), version: nil).entry.inode
    try f.commit("v", [.rename(from: p("/d"), to: p("/e/f"), replace: false)])
    XCTAssertEqual(try f.names("v"), ["e"])
    XCTAssertEqual(try f.names("v", "/e/f"), ["sub", "x"])
    XCTAssertEqual(try f.reader.lookup(name, path: p("/e/f/sub/y"), version: nil).entry.inode, inode)
    XCTAssertThrowsError(try f.commit("v", [.rename(from: p("/e"), to: p("/e/f/g"), replace: false)]))
  }

  func testRenameOverExistingFileNeedsReplace() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/tmp.1"), f.file("new")), .put(p("/data"), f.file("old"))])
    XCTAssertThrowsError(try f.commit("v", [.rename(from: p("/tmp.1"), to: p("/data"), replace: false)])) {
      XCTAssertEqual(($0 as? CairnError)?.code, .alreadyExists)
    }
    try f.commit("v", [.rename(from: p("/tmp.1"), to: p("/data"), replace: true)])
    XCTAssertEqual(try f.names("v"), ["data"])
    XCTAssertEqual(try f.reader.lookup(try VolumeName("v"), path: p("/data"), version: nil).entry.size, 3)
  }

  func testFileCannotReplaceDirectoryAndParentMustBeDirectory() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/d/x"), f.file("x"))])
    XCTAssertThrowsError(try f.commit("v", [.put(p("/d"), f.file("y"))])) {
      XCTAssertEqual(($0 as? CairnError)?.code, .isADirectory)
    }
    XCTAssertThrowsError(try f.commit("v", [.put(p("/d/x/z"), f.file("y"))])) {
      XCTAssertEqual(($0 as? CairnError)?.code, .notADirectory)
    }
  }

  func testManifestWithShortMiddleBlockIsRefused() throws {
    let f = try MetadataFixture()
    try f.create("v")
    let a = f.manifest(Array(repeating: 1, count: 100))
    let b = f.manifest(Array(repeating: 2, count: 100))
    let bad = Manifest(blocks: a.blocks + b.blocks)
    XCTAssertThrowsError(try f.commit("v", [.put(p("/f"), .file(bad, Attributes(mode: 0o100644, mtimeNanos: 0)))])) {
      XCTAssertEqual(($0 as? CairnError)?.code, .invalidArgument)
    }
  }
}

final class ConcurrencyTests: XCTestCase {
  /// Regression: applyNext read the next index and applied it under two separate lock holds, so
  /// three chunk servers registering at once crashed the metadata server.
  func testConcurrentApplyNextNeverCollides() throws {
    let f = try MetadataFixture()
    let machine = f.machine
    DispatchQueue.concurrentPerform(iterations: 64) { i in
      let record = ChunkServerRecord(id: UInt64(i + 1), address: "127.0.0.1:\(7000 + i)", zone: "z", registeredNanos: 0)
      _ = try? machine.applyNext(.registerChunkServer(record))
    }
    XCTAssertEqual(machine.appliedIndex, 64)
    XCTAssertEqual(try f.reader.chunkServers().count, 64)
  }
}
