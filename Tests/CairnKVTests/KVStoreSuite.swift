import CairnCore
import CairnKV
import Foundation
import XCTest

/// Behaviour every `KVStore` must show, written once and run against `MemoryStore` and
/// `RocksDBStore` alike (see `MemoryStoreTests` and `RocksDBStoreTests`).
enum KVStoreSuite {
  /// Keys that probe unsigned byte order: empty, 0x00, 0xFF, prefixes, and mixed lengths.
  static let orderingKeys: [Bytes] = [
    [], [0x00], [0x00, 0x00], [0x00, 0xFF], [0x01], [0x7F], [0x80], [0x80, 0x00], [0xFE, 0xFF],
    [0xFF], [0xFF, 0x00], [0xFF, 0xFF], [0xFF, 0xFF, 0xFF], Array("a".utf8), Array("ab".utf8), Array("b".utf8),
  ]

  static func put(_ store: any KVStore, _ pairs: [(Bytes, Bytes)], sync: Bool = false) throws {
    var batch = WriteBatch()
    for (k, v) in pairs { batch.put(k, v) }
    try store.write(batch, sync: sync)
  }

  static func forwardKeys(_ cursor: any KVCursor, from key: Bytes = []) -> [Bytes] {
    var out: [Bytes] = []
    cursor.seek(key)
    while cursor.isValid {
      out.append(cursor.key)
      cursor.next()
    }
    return out
  }

  static func ordersKeysAsUnsignedBytes(_ store: any KVStore) throws {
    try put(store, orderingKeys.shuffled().map { ($0, $0 + [0xAA]) })
    let expected = orderingKeys.sorted { $0.lexicographicallyPrecedes($1) }
    let cursor = try store.makeCursor()
    XCTAssertEqual(forwardKeys(cursor), expected)

    var backward: [Bytes] = []
    cursor.seekForPrev([0xFF, 0xFF, 0xFF, 0xFF])
    while cursor.isValid {
      backward.append(cursor.key)
      XCTAssertEqual(cursor.value, cursor.key + [0xAA])
      cursor.previous()
    }
    XCTAssertEqual(backward, expected.reversed())
  }

  static func seeksFindNeighbours(_ store: any KVStore) throws {
    try put(store, [([0x10], [1]), ([0x20], [2]), ([0x30], [3])])
    let cursor = try store.makeCursor()
    cursor.seek([0x20])
    XCTAssertEqual(cursor.key, [0x20], "seek lands on an exact match")
    cursor.seek([0x20, 0x00])
    XCTAssertEqual(cursor.key, [0x30], "seek lands on the next key")
    cursor.seek([0x31])
    XCTAssertFalse(cursor.isValid, "seek past the last key is invalid")
    cursor.seekForPrev([0x20])
    XCTAssertEqual(cursor.key, [0x20], "seekForPrev lands on an exact match")
    cursor.seekForPrev([0x2F, 0xFF])
    XCTAssertEqual(cursor.key, [0x20], "seekForPrev lands on the previous key")
    cursor.seekForPrev([0x0F])
    XCTAssertFalse(cursor.isValid, "seekForPrev before the first key is invalid")
    cursor.seek([])
    XCTAssertEqual(cursor.key, [0x10])
    cursor.previous()
    XCTAssertFalse(cursor.isValid, "previous from the first key is invalid")
    cursor.seekForPrev([0xFF])
    XCTAssertEqual(cursor.key, [0x30])
    cursor.next()
    XCTAssertFalse(cursor.isValid, "next from the last key is invalid")
    cursor.seek([0x10])
    cursor.next()
    XCTAssertEqual(cursor.value, [2])
    cursor.previous()
    XCTAssertEqual(cursor.value, [1])
  }

  static func appliesBatchesInOrderAndAtomically(_ store: any KVStore) throws {
    var batch = WriteBatch()
    batch.put([1], [1])
    batch.delete([1])
    batch.delete([2])
    batch.put([2], [])
    batch.put([3], [3])
    batch.put([3], [33])
    try store.write(batch, sync: true)
    XCTAssertNil(try store.get([1]), "a delete after a put in one batch wins")
    XCTAssertEqual(try store.get([2]), [], "a put after a delete wins, and empty values survive")
    XCTAssertEqual(try store.get([3]), [33], "the last put of a key wins")
    XCTAssertNil(try store.get([4]))
    try store.write(WriteBatch(), sync: false)
    XCTAssertEqual(try store.scan(prefix: []).map(\.key), [[2], [3]])
  }

  /// Readers never see half a batch: every batch writes the same counter to two keys.
  static func readersNeverSeeHalfABatch(_ store: any KVStore) throws {
    let rounds = 3000
    let writer = BackgroundTask.start {
      for i in 1...rounds {
        var batch = WriteBatch()
        batch.put(Array("a".utf8), [UInt8(i & 0xFF), UInt8(i >> 8)])
        batch.put(Array("b".utf8), [UInt8(i & 0xFF), UInt8(i >> 8)])
        try? store.write(batch, sync: false)
      }
    }
    var checks = 0
    while !writer.isFinished || checks == 0 {
      let pairs = try store.scan(prefix: [])
      if !pairs.isEmpty {
        XCTAssertEqual(pairs.count, 2)
        XCTAssertEqual(pairs.first?.value, pairs.last?.value, "a cursor saw half a batch")
      }
      checks += 1
    }
    writer.wait()
  }

  /// Cursors made while writes race with them must still see every write that finished before
  /// the cursor was made (a stale sorted-key cache would hide new keys).
  static func newCursorsSeeEveryFinishedWrite(_ store: any KVStore) throws {
    let rounds = 2000
    let writer = BackgroundTask.start {
      for i in 0..<rounds {
        var batch = WriteBatch()
        batch.put([UInt8(i >> 8), UInt8(i & 0xFF)], [1])
        try? store.write(batch, sync: false)
      }
    }
    while !writer.isFinished { _ = try store.makeCursor() }
    writer.wait()
    XCTAssertEqual(try store.scan(prefix: []).count, rounds, "a cursor made after the last write missed keys")
  }

  static func cursorIgnoresLaterWrites(_ store: any KVStore) throws {
    try put(store, [([1], [1]), ([2], [2]), ([3], [3])])
    let cursor = try store.makeCursor()
    var batch = WriteBatch()
    batch.delete([2])
    batch.put([3], [30])
    batch.put([4], [4])
    batch.put([0], [0])
    try store.write(batch, sync: false)

    var seen: [(Bytes, Bytes)] = []
    cursor.seek([])
    while cursor.isValid {
      seen.append((cursor.key, cursor.value))
      cursor.next()
    }
    XCTAssertEqual(seen.map(\.0), [[1], [2], [3]])
    XCTAssertEqual(seen.map(\.1), [[1], [2], [3]])
    XCTAssertEqual(try store.scan(prefix: []).map(\.key), [[0], [1], [3], [4]], "a new cursor sees the writes")
  }

  static func scansByPrefix(_ store: any KVStore) throws {
    try put(store, [([1, 0], [1]), ([1, 1], [2]), ([1, 0xFF, 0xFF], [3]), ([2], [4]), ([0, 0xFF], [5])])
    XCTAssertEqual(try store.scan(prefix: [1]).map(\.value), [[1], [2], [3]])
    XCTAssertEqual(try store.scan(prefix: [1], limit: 2).map(\.value), [[1], [2]])
    XCTAssertEqual(try store.scan(prefix: [3]).count, 0)
  }
}

/// A tiny thread helper so tests can run a writer beside a reader.
final class BackgroundTask: @unchecked Sendable {
  private let lock = NSCondition()
  private var done = false

  var isFinished: Bool { lock.withLock { done } }

  static func start(_ body: @escaping @Sendable () -> Void) -> BackgroundTask {
    let thread = BackgroundTask()
    Thread.detachNewThread {
      body()
      thread.lock.withLock {
        thread.done = true
        thread.lock.broadcast()
      }
    }
    return thread
  }

  func wait() {
    lock.withLock { while !done { lock.wait() } }
  }
}
