import CairnCore
import CairnKV
import CairnMetadata
import CairnRocksDB
import Foundation
import XCTest

/// The metadata semantics on the real store: the same model test, plus durability across reopen.
final class RocksDBMetadataTests: XCTestCase {
  var directory = ""

  override func setUpWithError() throws {
    directory = NSTemporaryDirectory() + "cairn-meta-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

  func testRandomCommitsMatchNaiveModelOnRocksDB() throws {
    for seed: UInt64 in [101, 102, 103] {
      let store = try RocksDBStore(path: directory + "/\(seed)")
      try VersionedStoreModelTests.run(seed: seed, store: store)
    }
  }

  func testStateSurvivesReopenIncludingAppliedIndex() throws {
    do {
      let f = try MetadataFixture(store: try RocksDBStore(path: directory + "/db"))
      try f.create("v")
      try f.commit("v", [.put(p("/a"), f.file("durable"))])
    }
    let reopened = try RocksDBStore(path: directory + "/db")
    let machine = try MetadataStateMachine(store: reopened)
    XCTAssertEqual(machine.appliedIndex, 2)
    let reader = MetadataReader(store: reopened)
    XCTAssertEqual(try reader.volume(try VolumeName("v")).headVersion, 2)
    XCTAssertEqual(try reader.lookup(try VolumeName("v"), path: p("/a"), version: nil).entry.size, 7)
  }
}
