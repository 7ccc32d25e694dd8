import CairnCore
import CairnKV
import Foundation
import XCTest

/// `StagedStore`: reads through it see staged writes at once (point reads and cursors, forwards,
/// backwards and across direction changes), the store underneath only after `flush`, in one
/// batch; its cache of selected keys stays current.
final class StagedStoreTests: XCTestCase {
  /// A store that counts reads and writes, to see what the view saves.
  final class CountingStore: KVStore, @unchecked Sendable {
    let inner = MemoryStore()
    var gets = 0
    var writes = 0
    func get(_ key: Bytes) throws(CairnError) -> Bytes? {
      gets += 1
      return try inner.get(key)
    }
    func makeCursor() throws(CairnError) -> any KVCursor { try inner.makeCursor() }
    func write(_ batch: WriteBatch, sync: Bool) throws(CairnError) {
      writes += 1
      try inner.write(batch, sync: sync)
    }
    func checkpoint(to directory: String) throws(CairnError) { try inner.checkpoint(to: directory) }
  }

  /// The common KV behaviour holds when every write is flushed at once.
  func testBehavesLikeAStoreWhenWritesAreFlushed() throws {
    try KVStoreSuite.ordersKeysAsUnsignedBytes(StagedStore(base: MemoryStore()))
    try KVStoreSuite.seeksFindNeighbours(StagedStore(base: MemoryStore()))
    try KVStoreSuite.scansByPrefix(StagedStore(base: MemoryStore()))
    try KVModelCheck.run(StagedStore(base: MemoryStore()))
  }

  /// Seeded random staged batches over a store with contents of its own, flushed now and then;
  /// after every batch, cursors made through the view (and pinned older ones) move like the naive
  /// model of store + staged writes, and the store underneath holds exactly what was flushed.
  func testCursorsOverStagedWritesMatchTheModel() throws {
    let seed = KVModelCheck.seed()
    var rng = SeededRandom(seed: seed)
    let base = MemoryStore()
    let view = StagedStore(base: base)
    var model = NaiveKVModel()
    var flushed = NaiveKVModel()
    var pinned: [(cursor: any KVCursor, model: NaiveKVModel)] = []
    for round in 0..<400 {
      var batch = WriteBatch()
      for _ in 0..<Int.random(in: 1...KVModelCheck.maxBatchOperations, using: &rng) {
        let key = KVModelCheck.randomKey(&rng)
        if Int.random(in: 0..<3, using: &rng) > 0 {
          batch.put(key, [UInt8(round & 0xFF)] + key)
        } else {
          batch.delete(key)
        }
      }
      view.stage(batch)
      model.apply(batch)
      for pair in model.pairs {
        XCTAssertEqual(try view.get(pair.key), pair.value, "seed \(seed) round \(round): get(\(pair.key))")
      }
      if Int.random(in: 0..<6, using: &rng) == 0 {
        try view.flush(sync: false)
        flushed = model
        let stored = try base.scan(prefix: [])
        XCTAssertEqual(stored.map(\.key), flushed.pairs.map(\.key), "seed \(seed) round \(round): store after flush")
        XCTAssertEqual(
          stored.map(\.value), flushed.pairs.map(\.value), "seed \(seed) round \(round): store after flush")
      } else {
        let stored = try base.scan(prefix: [])
        XCTAssertEqual(stored.map(\.key), flushed.pairs.map(\.key), "seed \(seed) round \(round): staged writes leaked")
      }
      if Int.random(in: 0..<8, using: &rng) == 0 { pinned.append((try view.makeCursor(), model)) }
      if pinned.count > 4 { pinned.removeFirst() }
      var targets = pinned
      targets.append((try view.makeCursor(), model))
      for (cursor, expected) in targets {
        if let failure = KVModelCheck.compareMoves(cursor, expected, &rng) {
          XCTFail("staged-store model check failed with CAIRN_TEST_SEED=\(seed) in round \(round): \(failure)")
          return
        }
      }
    }
  }

  func testStagedWritesReachTheStoreInOneWrite() throws {
    let base = CountingStore()
    let view = StagedStore(base: base)
    for i in 0..<10 {
      var batch = WriteBatch()
      batch.put([UInt8(i)], [UInt8(i)])
      view.stage(batch)
    }
    XCTAssertTrue(view.hasStagedWrites)
    XCTAssertEqual(base.writes, 0)
    XCTAssertNil(try base.get([3]))
    XCTAssertEqual(try view.get([3]), [3])
    try view.flush(sync: true)
    XCTAssertEqual(base.writes, 1)
    XCTAssertFalse(view.hasStagedWrites)
    XCTAssertEqual(try base.scan(prefix: []).count, 10)
    try view.flush(sync: true)
    XCTAssertEqual(base.writes, 1, "an empty flush writes nothing")
  }

  /// A flush writes each staged key once, with its last staged value, in key order.
  func testFlushWritesEachKeyOnceInKeyOrder() throws {
    final class Recorder: KVStore, @unchecked Sendable {
      let inner = MemoryStore()
      var batches: [WriteBatch] = []
      func get(_ key: Bytes) throws(CairnError) -> Bytes? { try inner.get(key) }
      func makeCursor() throws(CairnError) -> any KVCursor { try inner.makeCursor() }
      func write(_ batch: WriteBatch, sync: Bool) throws(CairnError) {
        batches.append(batch)
        try inner.write(batch, sync: sync)
      }
      func checkpoint(to directory: String) throws(CairnError) {}
    }
    let base = Recorder()
    let view = StagedStore(base: base)
    var first = WriteBatch()
    first.put([3], [1])
    first.put([1], [1])
    first.delete([2])
    view.stage(first)
    var second = WriteBatch()
    second.put([3], [2])
    second.put([2], [2])
    second.delete([1])
    view.stage(second)
    try view.flush(sync: false)
    XCTAssertEqual(base.batches.count, 1)
    XCTAssertEqual(base.batches.first?.operations, [.delete([1]), .put([2], [2]), .put([3], [2])])
    XCTAssertEqual(try base.inner.scan(prefix: []).map(\.key), [[2], [3]])
  }

  func testDiscardedWritesNeverReachTheStore() throws {
    let base = MemoryStore()
    let view = StagedStore(base: base)
    var batch = WriteBatch()
    batch.put([1], [1])
    view.stage(batch)
    view.discardStaged()
    XCTAssertNil(try view.get([1]))
    try view.flush(sync: true)
    XCTAssertNil(try base.get([1]))
  }

  /// Cached keys are read from the store once, stay current through flushed writes (puts and
  /// deletions), and are read again after `invalidateCache` (the store replaced underneath).
  func testCacheServesSelectedKeysAndStaysCurrent() throws {
    let base = CountingStore()
    var seed = WriteBatch()
    seed.put([0x56, 1], [10])
    seed.put([0x45, 1], [20])
    try base.write(seed, sync: false)
    let view = StagedStore(base: base) { $0.first == 0x56 }
    XCTAssertEqual(try view.get([0x56, 1]), [10])
    XCTAssertEqual(try view.get([0x56, 1]), [10])
    XCTAssertNil(try view.get([0x56, 2]))
    XCTAssertNil(try view.get([0x56, 2]))
    XCTAssertEqual(base.gets, 2, "a cached key (present or absent) is read from the store once")
    XCTAssertEqual(try view.get([0x45, 1]), [20])
    XCTAssertEqual(try view.get([0x45, 1]), [20])
    XCTAssertEqual(base.gets, 4, "keys outside the cached set are always read from the store")

    var change = WriteBatch()
    change.put([0x56, 1], [11])
    change.put([0x56, 2], [12])
    try view.write(change, sync: false)
    var removal = WriteBatch()
    removal.delete([0x56, 1])
    view.stage(removal)
    try view.flush(sync: false)
    let before = base.gets
    XCTAssertNil(try view.get([0x56, 1]))
    XCTAssertEqual(try view.get([0x56, 2]), [12])
    XCTAssertEqual(base.gets, before, "flushed writes keep the cache current without reading")

    var behind = WriteBatch()
    behind.put([0x56, 2], [99])
    try base.write(behind, sync: false)
    XCTAssertEqual(try view.get([0x56, 2]), [12], "a write behind the view's back is not seen until invalidated")
    view.invalidateCache()
    XCTAssertEqual(try view.get([0x56, 2]), [99])
  }

  func testCacheIsBounded() throws {
    let base = CountingStore()
    let view = StagedStore(base: base, cacheLimit: 4) { _ in true }
    for i in 0..<10 { _ = try view.get([UInt8(i)]) }
    XCTAssertEqual(base.gets, 10)
    _ = try view.get([9])
    XCTAssertEqual(base.gets, 10, "the newest keys are still cached")
    _ = try view.get([0])
    XCTAssertEqual(base.gets, 11, "old keys were dropped when the cache filled")
  }
}
