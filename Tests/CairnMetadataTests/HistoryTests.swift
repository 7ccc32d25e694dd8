import CairnCore
import CairnKV
import CairnMetadata
import XCTest

final class HistoryTests: XCTestCase {
  func testHistoryIsNewestFirst() throws {
    let f = try MetadataFixture()
    try f.create("v")
    for i in 0..<5 { try f.commit("v", [.put(p("/f\(i)"), f.file("\(i)"))]) }
    let history = try f.reader.history(try VolumeName("v"), limit: 3)
    XCTAssertEqual(history.map(\.version), [6, 5, 4])
    XCTAssertEqual(history.first?.fileCount, 5)
  }

  func testDiffListsAddedRemovedModified() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/a"), f.file("a")), .put(p("/b"), f.file("b"))])
    try f.commit("v", [.put(p("/a"), f.file("aa")), .delete(p("/b"), recursive: false), .put(p("/c"), f.file("c"))])
    let diff = try f.reader.diff(try VolumeName("v"), from: 2, to: 3)
    XCTAssertEqual(diff.map(\.path.rawValue), ["/a", "/b", "/c"])
    XCTAssertEqual(diff.map(\.kind), [.modified, .removed, .added])
  }

  func testRollbackCreatesNewVersionEqualToOldOne() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/a"), f.file("a1"))])
    try f.commit("v", [.put(p("/a"), f.file("a2")), .put(p("/b"), f.file("b"))])
    guard case .commit(let r) = try f.machine.applyNext(.rollback(try VolumeName("v"), toVersion: 2, author: "t", timeNanos: 5))
    else { return XCTFail() }
    XCTAssertEqual(r.version, 4)
    XCTAssertEqual(try f.names("v"), ["a"])
    XCTAssertEqual(try f.reader.diff(try VolumeName("v"), from: 2, to: 4), [])
  }

  func testForkSharesBlocksAndIsIndependent() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/d/a"), f.file("shared"))])
    try f.commit("v", [.put(p("/later"), f.file("later"))])
    guard
      case .volume(let forked) = try f.machine.applyNext(
        .fork(try VolumeName("v"), version: 2, newName: try VolumeName("w"), author: "t", timeNanos: 5))
    else { return XCTFail() }
    XCTAssertEqual(forked.headVersion, 1)
    XCTAssertEqual(forked.fileCount, 1)
    XCTAssertEqual(try f.names("w"), ["d"])
    XCTAssertEqual(try f.refCount("shared"), 2)
    try f.commit("w", [.delete(p("/d"), recursive: true)])
    XCTAssertEqual(try f.names("v", "/d"), ["a"])
  }

  func testRetentionPrunesOldVersionsAndReleasesBlocks() throws {
    let f = try MetadataFixture()
    try f.create("v", retained: 3)
    for i in 0..<10 { try f.commit("v", [.put(p("/f"), f.file("content \(i)"))]) }
    let info = try f.reader.volume(try VolumeName("v"))
    XCTAssertEqual(info.headVersion, 11)
    XCTAssertEqual(info.oldestVersion, 9)
    XCTAssertThrowsError(try f.reader.lookup(try VolumeName("v"), path: p("/f"), version: 8))
    XCTAssertEqual(try f.reader.lookup(try VolumeName("v"), path: p("/f"), version: 9).entry.size, 9)
    XCTAssertEqual(try f.refCount("content 0"), 0, "a block only pruned versions used has no references")
    XCTAssertEqual(try f.refCount("content 9"), 1)
  }

  func testDeleteVolumeReleasesEveryBlock() throws {
    let f = try MetadataFixture()
    try f.create("v")
    try f.commit("v", [.put(p("/a"), f.file("gone"))])
    try f.commit("v", [.put(p("/a"), f.file("gone too"))])
    _ = try f.machine.applyNext(.deleteVolume(try VolumeName("v")))
    XCTAssertEqual(try f.refCount("gone"), 0)
    XCTAssertEqual(try f.refCount("gone too"), 0)
    XCTAssertThrowsError(try f.reader.volume(try VolumeName("v")))
    XCTAssertTrue(try f.store.scan(prefix: [0x45]).isEmpty, "no tree records remain")
  }
}
