import CairnCore
import CairnKV
import CairnRaft
import CairnRaftStorage
import CairnRocksDB
import Foundation
import XCTest

/// Opens "the same" store again: the one `MemoryStore` for the in-memory kind, a fresh
/// `RocksDBStore` on the same directory for RocksDB (callers drop every earlier reference first,
/// so reopening is a real close and open).
struct StoreFactory {
  let name: String
  let isDurable: Bool
  let open: () throws -> any KVStore

  static func memory() -> StoreFactory {
    let store = MemoryStore()
    return StoreFactory(name: "memory", isDurable: false, open: { store })
  }

  static func rocksDB(at path: String) -> StoreFactory {
    StoreFactory(name: "rocksdb", isDurable: true) {
      try RocksDBStore(path: path, options: .init(blockCacheBytes: 8 << 20, writeBufferBytes: 4 << 20))
    }
  }
}

/// A temporary directory removed at the end of a test.
final class TemporaryDirectory {
  let path: String

  init() throws {
    path = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-raftstore-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Wraps a store, records every write and can be told to fail the next one (a crash before the
/// batch reached the disk).
final class RecordingStore: KVStore, @unchecked Sendable {
  let inner: any KVStore
  private(set) var writes: [(operations: Int, sync: Bool)] = []
  var failNextWrite = false

  init(_ inner: any KVStore) { self.inner = inner }

  func get(_ key: Bytes) throws(CairnError) -> Bytes? { try inner.get(key) }
  func makeCursor() throws(CairnError) -> any KVCursor { try inner.makeCursor() }
  func checkpoint(to directory: String) throws(CairnError) { try inner.checkpoint(to: directory) }

  func write(_ batch: WriteBatch, sync: Bool) throws(CairnError) {
    if failNextWrite {
      failNextWrite = false
      throw CairnError(.ioError, "simulated crash before the write reached the disk")
    }
    writes.append((batch.count, sync))
    try inner.write(batch, sync: sync)
  }
}

enum Fixtures {
  static let voters: [NodeID] = [1, 2, 3]

  static func entry(_ index: LogIndex, _ term: Term, _ text: String = "") -> LogEntry {
    LogEntry(index: index, term: term, payload: .command(Array((text.isEmpty ? "e\(index)t\(term)" : text).utf8)))
  }

  static func entries(_ range: ClosedRange<LogIndex>, term: Term) -> [LogEntry] {
    range.map { entry($0, term) }
  }

  static func snapshot(index: LogIndex, term: Term, data: [UInt8] = [7, 7]) -> Snapshot {
    Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: Membership(voters: voters)), data: data)
  }

  /// Keys of the state machine sharing the store (first bytes other than `R`).
  static let stateMachinePairs: [(Bytes, Bytes)] = [
    ([0x45, 1], [1]), ([0x4D, 0xFF], [2]), ([0x53, 0], [3]), ([0x56], [4]), ([0x52 - 1, 0xFF], [5]),
    ([0x52 + 1], [6]),
  ]

  static func putStateMachineKeys(_ store: any KVStore) throws {
    var batch = WriteBatch()
    for (key, value) in stateMachinePairs { batch.put(key, value) }
    try store.write(batch, sync: true)
  }

  static func stateMachineKeys(_ store: any KVStore) throws -> [Bytes: Bytes] {
    var result: [Bytes: Bytes] = [:]
    for (key, value) in try store.scan(prefix: []) where key.first != RaftLogStore.keyPrefix { result[key] = value }
    return result
  }
}
