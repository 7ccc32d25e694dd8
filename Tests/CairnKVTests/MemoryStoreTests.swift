import CairnKV
import XCTest

final class MemoryStoreTests: XCTestCase {
  func testOrdersKeysAsUnsignedBytes() throws { try KVStoreSuite.ordersKeysAsUnsignedBytes(MemoryStore()) }
  func testSeeksFindNeighbours() throws { try KVStoreSuite.seeksFindNeighbours(MemoryStore()) }
  func testAppliesBatchesInOrderAndAtomically() throws {
    try KVStoreSuite.appliesBatchesInOrderAndAtomically(MemoryStore())
  }
  func testReadersNeverSeeHalfABatch() throws { try KVStoreSuite.readersNeverSeeHalfABatch(MemoryStore()) }
  func testNewCursorsSeeEveryFinishedWrite() throws {
    // Regression: makeCursor once filled its sorted-key cache from a map snapshot taken outside
    // the cache's lock, so a racing write left a stale cache for later cursors.
    for _ in 0..<5 { try KVStoreSuite.newCursorsSeeEveryFinishedWrite(MemoryStore()) }
  }
  func testCursorIgnoresLaterWrites() throws { try KVStoreSuite.cursorIgnoresLaterWrites(MemoryStore()) }
  func testScansByPrefix() throws { try KVStoreSuite.scansByPrefix(MemoryStore()) }
  func testCursorsMatchNaiveModel() throws { try KVModelCheck.run(MemoryStore()) }
}
