import CairnKV
import XCTest

final class MemoryStoreTests: XCTestCase {
  func testOrdersKeysAsUnsignedBytes() throws { try KVStoreSuite.ordersKeysAsUnsignedBytes(MemoryStore()) }
  func testSeeksFindNeighbours() throws { try KVStoreSuite.seeksFindNeighbours(MemoryStore()) }
  func testAppliesBatchesInOrderAndAtomically() throws { try KVStoreSuite.appliesBatchesInOrderAndAtomically(MemoryStore()) }
  func testReadersNeverSeeHalfABatch() throws { try KVStoreSuite.readersNeverSeeHalfABatch(MemoryStore()) }
  func testCursorIgnoresLaterWrites() throws { try KVStoreSuite.cursorIgnoresLaterWrites(MemoryStore()) }
  func testScansByPrefix() throws { try KVStoreSuite.scansByPrefix(MemoryStore()) }
  func testCursorsMatchNaiveModel() throws { try KVModelCheck.run(MemoryStore()) }
}
