import CRocksDB
import CairnCore
import CairnKV

/// A cursor over a RocksDB snapshot. It owns the snapshot, its read options and the iterator, and
/// holds its store, so the database stays open until the cursor is gone.
///
/// Not thread-safe: use a cursor from one thread at a time (RocksDB iterators are not shareable).
final class RocksDBCursor: KVCursor {
  private let store: RocksDBStore
  private let snapshot: OpaquePointer
  private let readOptions: OpaquePointer
  private let iterator: OpaquePointer

  init?(store: RocksDBStore) {
    guard let snapshot = rocksdb_create_snapshot(store.db) else { return nil }
    guard let readOptions = rocksdb_readoptions_create() else {
      rocksdb_release_snapshot(store.db, snapshot)
      return nil
    }
    rocksdb_readoptions_set_snapshot(readOptions, snapshot)
    rocksdb_readoptions_set_verify_checksums(readOptions, 1)
    guard let iterator = rocksdb_create_iterator(store.db, readOptions) else {
      rocksdb_readoptions_destroy(readOptions)
      rocksdb_release_snapshot(store.db, snapshot)
      return nil
    }
    self.store = store
    self.snapshot = snapshot
    self.readOptions = readOptions
    self.iterator = iterator
  }

  deinit {
    // The iterator first: it reads through the read options, which name the snapshot.
    rocksdb_iter_destroy(iterator)
    rocksdb_readoptions_destroy(readOptions)
    rocksdb_release_snapshot(store.db, snapshot)
  }

  func seek(_ key: Bytes) {
    key.withUnsafeBufferPointer { k in
      k.withMemoryRebound(to: CChar.self) { rocksdb_iter_seek(iterator, $0.baseAddress, $0.count) }
    }
    checkStatus()
  }

  func seekForPrev(_ key: Bytes) {
    key.withUnsafeBufferPointer { k in
      k.withMemoryRebound(to: CChar.self) { rocksdb_iter_seek_for_prev(iterator, $0.baseAddress, $0.count) }
    }
    checkStatus()
  }

  var isValid: Bool { rocksdb_iter_valid(iterator) != 0 }

  var key: Bytes {
    precondition(isValid, "KVCursor.key read while the cursor is not valid")
    var length = 0
    let pointer = rocksdb_iter_key(iterator, &length)
    return RocksDBStore.copy(pointer, length)
  }

  var value: Bytes {
    precondition(isValid, "KVCursor.value read while the cursor is not valid")
    var length = 0
    let pointer = rocksdb_iter_value(iterator, &length)
    return RocksDBStore.copy(pointer, length)
  }

  func next() {
    guard isValid else { return }
    rocksdb_iter_next(iterator)
    checkStatus()
  }

  func previous() {
    guard isValid else { return }
    rocksdb_iter_prev(iterator)
    checkStatus()
  }

  /// An iterator that stops on an I/O error or corruption looks exactly like one that reached the
  /// end, and `KVCursor` has no way to report errors: carrying on would silently truncate scans of
  /// metadata. Stop the process instead, so a healthy replica takes over.
  private func checkStatus() {
    guard rocksdb_iter_valid(iterator) == 0 else { return }
    var error: UnsafeMutablePointer<CChar>? = nil
    rocksdb_iter_get_error(iterator, &error)
    if let message = RocksDBStore.take(error) {
      preconditionFailure("RocksDB iterator over \(store.path) failed (a scan would be incomplete): \(message)")
    }
  }
}
