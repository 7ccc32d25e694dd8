import CairnCore
import CairnKV
import CairnRocksDB
import Foundation
import XCTest

final class RocksDBStoreTests: XCTestCase {
  private var root = ""

  override func setUpWithError() throws {
    root = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-kv-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: root)
  }

  private func open(_ name: String = "db") throws -> RocksDBStore {
    try RocksDBStore(path: root + "/" + name, options: .init(blockCacheBytes: 8 << 20, writeBufferBytes: 4 << 20))
  }

  func testOrdersKeysAsUnsignedBytes() throws { try KVStoreSuite.ordersKeysAsUnsignedBytes(open()) }
  func testSeeksFindNeighbours() throws { try KVStoreSuite.seeksFindNeighbours(open()) }
  func testAppliesBatchesInOrderAndAtomically() throws { try KVStoreSuite.appliesBatchesInOrderAndAtomically(open()) }
  func testReadersNeverSeeHalfABatch() throws { try KVStoreSuite.readersNeverSeeHalfABatch(open()) }
  func testNewCursorsSeeEveryFinishedWrite() throws {
    for _ in 0..<5 { try KVStoreSuite.newCursorsSeeEveryFinishedWrite(open()) }
  }
  func testCursorIgnoresLaterWrites() throws { try KVStoreSuite.cursorIgnoresLaterWrites(open()) }
  func testScansByPrefix() throws { try KVStoreSuite.scansByPrefix(open()) }
  func testCursorsMatchNaiveModel() throws { try KVModelCheck.run(open()) }

  func testCursorsMatchNaiveModelAcrossReopens() throws {
    try KVModelCheck.run(open: { try open() }, reopenEveryRounds: 40)
  }

  func testDataSurvivesCloseAndReopen() throws {
    var store: RocksDBStore? = try open()
    try KVStoreSuite.put(try XCTUnwrap(store), [([0x00], [1]), ([0xFF], [2])], sync: true)
    try KVStoreSuite.put(try XCTUnwrap(store), [([0x7F], [3])], sync: false)
    store = nil
    let reopened = try open()
    XCTAssertEqual(try reopened.scan(prefix: []).map(\.value), [[1], [3], [2]])
  }

  func testCursorKeepsStoreOpenAfterLastReference() throws {
    var store: RocksDBStore? = try open()
    try KVStoreSuite.put(try XCTUnwrap(store), [([1], [1]), ([2], [2])])
    let cursor = try XCTUnwrap(store).makeCursor()
    store = nil
    XCTAssertEqual(KVStoreSuite.forwardKeys(cursor), [[1], [2]])
  }

  func testCheckpointOpensWithTheData() throws {
    let store = try open()
    let pairs: [(Bytes, Bytes)] = (0..<1000).map { (i: Int) -> (Bytes, Bytes) in
      let key: Bytes = [UInt8(i >> 8), UInt8(i & 0xFF)]
      return (key, [UInt8(i % 251)])
    }
    try KVStoreSuite.put(store, pairs)
    try store.checkpoint(to: root + "/checkpoint")
    try KVStoreSuite.put(store, [([0xFF, 0xFF], [9])])

    let copy = try open("checkpoint")
    let copied = try copy.scan(prefix: [])
    XCTAssertEqual(copied.count, 1000, "the checkpoint holds exactly the data written before it")
    XCTAssertEqual(copied.last?.value, [UInt8(999 % 251)])
    XCTAssertNil(try copy.get([0xFF, 0xFF]))
  }

  func testCheckpointRefusesAnExistingDirectory() throws {
    let store = try open()
    try FileManager.default.createDirectory(atPath: root + "/taken", withIntermediateDirectories: false)
    XCTAssertThrowsError(try store.checkpoint(to: root + "/taken")) { error in
      XCTAssertEqual((error as? CairnError)?.code, .ioError)
    }
  }

  func testSecondOpenOfALockedDirectorySaysItIsInUse() throws {
    let store = try open()
    XCTAssertThrowsError(try open()) { error in
      let error = error as? CairnError
      XCTAssertEqual(error?.code, .unavailable)
      XCTAssertEqual(error?.message, "data directory \(self.root)/db is in use by another process")
    }
    withExtendedLifetime(store) {}
  }

  func testCorruptDirectoryGivesAClearError() throws {
    _ = try open()
    try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: root + "/db/CURRENT"))
    XCTAssertThrowsError(try open()) { error in
      let error = error as? CairnError
      XCTAssertEqual(error?.code, .ioError)
      XCTAssertEqual(error?.message, "data directory \(self.root)/db is unreadable or corrupt")
    }
  }
}
