import CRocksDB
import CairnCore
import CairnKV

/// A `KVStore` on RocksDB, through RocksDB's C API: the metadata servers' durable state.
///
/// Thread-safe: RocksDB's `DB` object is safe for concurrent use, and every other handle this class
/// keeps is immutable after `open`. The database is closed when the last reference goes away;
/// cursors keep the store alive, so a cursor never outlives the database it reads.
public final class RocksDBStore: KVStore, @unchecked Sendable {
  /// Tuning knobs, each a named bound on memory or threads.
  public struct Options: Sendable {
    /// Capacity of the LRU cache of uncompressed data blocks.
    public var blockCacheBytes: Int
    /// Size of one memtable before it is flushed.
    public var writeBufferBytes: Int
    /// Most memtables kept in memory (one active, the rest waiting to flush).
    public var maxWriteBuffers: Int
    /// Bloom filter bits per key (10 gives about a 1% false-positive rate).
    public var bloomBitsPerKey: Double
    /// Background flush and compaction threads.
    public var maxBackgroundJobs: Int
    /// Most table files kept open (-1: unbounded).
    public var maxOpenFiles: Int

    /// Defaults suited to a metadata server that shares its machine with others.
    public init(
      blockCacheBytes: Int = 64 << 20, writeBufferBytes: Int = 32 << 20, maxWriteBuffers: Int = 3,
      bloomBitsPerKey: Double = 10, maxBackgroundJobs: Int = 2, maxOpenFiles: Int = 1024
    ) {
      self.blockCacheBytes = blockCacheBytes
      self.writeBufferBytes = writeBufferBytes
      self.maxWriteBuffers = maxWriteBuffers
      self.bloomBitsPerKey = bloomBitsPerKey
      self.maxBackgroundJobs = maxBackgroundJobs
      self.maxOpenFiles = maxOpenFiles
    }
  }

  /// The directory the database lives in.
  public let path: String
  let db: OpaquePointer
  private let options: OpaquePointer
  private let tableOptions: OpaquePointer
  private let blockCache: OpaquePointer
  private let readOptions: OpaquePointer
  private let syncWriteOptions: OpaquePointer
  private let asyncWriteOptions: OpaquePointer

  /// Opens (creating if missing) the database in `path`.
  ///
  /// Throws `.unavailable` when another process (or another `RocksDBStore` in this process) has
  /// the directory open, `.ioError` when it cannot be read or is corrupt (RocksDB's own message is
  /// in `details`), and `.invalidArgument` for options out of bounds.
  public init(path: String, options settings: Options = Options()) throws(CairnError) {
    guard settings.blockCacheBytes > 0, settings.writeBufferBytes > 0, settings.maxWriteBuffers >= 2,
      settings.maxBackgroundJobs >= 1, settings.bloomBitsPerKey > 0
    else {
      throw CairnError(
        .invalidArgument,
        "RocksDB options for \(path) need positive cache, write buffer and bloom sizes, "
          + "at least 2 write buffers and 1 background job"
      )
    }
    guard let options = rocksdb_options_create(), let tableOptions = rocksdb_block_based_options_create(),
      let blockCache = rocksdb_cache_create_lru(settings.blockCacheBytes),
      let readOptions = rocksdb_readoptions_create(), let syncWriteOptions = rocksdb_writeoptions_create(),
      let asyncWriteOptions = rocksdb_writeoptions_create()
    else { throw CairnError(.internalError, "RocksDB could not allocate its options") }
    self.path = path
    self.options = options
    self.tableOptions = tableOptions
    self.blockCache = blockCache
    self.readOptions = readOptions
    self.syncWriteOptions = syncWriteOptions
    self.asyncWriteOptions = asyncWriteOptions

    rocksdb_options_set_create_if_missing(options, 1)
    rocksdb_options_set_paranoid_checks(options, 1)
    rocksdb_options_set_write_buffer_size(options, settings.writeBufferBytes)
    rocksdb_options_set_max_write_buffer_number(options, Int32(clamping: settings.maxWriteBuffers))
    rocksdb_options_set_max_background_jobs(options, Int32(clamping: settings.maxBackgroundJobs))
    rocksdb_options_set_max_open_files(options, Int32(clamping: settings.maxOpenFiles))
    // A whole-key bloom filter on the memtables: point reads of absent keys (new idempotency
    // keys, counters never written) skip the memtable skip-list searches.
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(options, 0.02)
    rocksdb_options_set_memtable_whole_key_filtering(options, 1)
    // LZ4 is cheap enough for the hot levels; zstd pays off on the bottommost, largest level.
    rocksdb_options_set_compression(options, Int32(rocksdb_lz4_compression))
    rocksdb_options_set_bottommost_compression(options, Int32(rocksdb_zstd_compression))
    rocksdb_block_based_options_set_block_cache(tableOptions, blockCache)
    // The table options take ownership of the filter policy.
    rocksdb_block_based_options_set_filter_policy(
      tableOptions, rocksdb_filterpolicy_create_bloom_full(settings.bloomBitsPerKey))
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(tableOptions, 1)
    rocksdb_options_set_block_based_table_factory(options, tableOptions)
    rocksdb_readoptions_set_verify_checksums(readOptions, 1)
    rocksdb_writeoptions_set_sync(syncWriteOptions, 1)
    rocksdb_writeoptions_set_sync(asyncWriteOptions, 0)

    var error: UnsafeMutablePointer<CChar>? = nil
    let handle = rocksdb_open(options, path, &error)
    if let message = Self.take(error) {
      Self.destroy(options, tableOptions, blockCache, readOptions, syncWriteOptions, asyncWriteOptions)
      throw Self.openError(path: path, message: message)
    }
    guard let handle else {
      Self.destroy(options, tableOptions, blockCache, readOptions, syncWriteOptions, asyncWriteOptions)
      throw CairnError(.internalError, "RocksDB returned no database and no error for \(path)")
    }
    db = handle
  }

  deinit {
    rocksdb_close(db)
    Self.destroy(options, tableOptions, blockCache, readOptions, syncWriteOptions, asyncWriteOptions)
  }

  private static func destroy(
    _ options: OpaquePointer, _ tableOptions: OpaquePointer, _ blockCache: OpaquePointer,
    _ readOptions: OpaquePointer, _ syncWriteOptions: OpaquePointer, _ asyncWriteOptions: OpaquePointer
  ) {
    rocksdb_writeoptions_destroy(asyncWriteOptions)
    rocksdb_writeoptions_destroy(syncWriteOptions)
    rocksdb_readoptions_destroy(readOptions)
    rocksdb_options_destroy(options)
    rocksdb_block_based_options_destroy(tableOptions)
    rocksdb_cache_destroy(blockCache)
  }

  /// The value stored under `key`, or nil.
  public func get(_ key: Bytes) throws(CairnError) -> Bytes? {
    var error: UnsafeMutablePointer<CChar>? = nil
    var length = 0
    let value = key.withUnsafeBufferPointer { k in
      k.withMemoryRebound(to: CChar.self) { k in
        rocksdb_get(db, readOptions, k.baseAddress, k.count, &length, &error)
      }
    }
    defer { if let value { rocksdb_free(value) } }
    if let message = Self.take(error) { throw CairnError(.ioError, "RocksDB get in \(path) failed: \(message)") }
    guard let value else { return nil }
    return Self.copy(value, length)
  }

  /// Applies `batch` atomically; with `sync`, the write-ahead log is fsynced before returning.
  public func write(_ batch: WriteBatch, sync: Bool) throws(CairnError) {
    guard let native = rocksdb_writebatch_create() else {
      throw CairnError(.internalError, "RocksDB could not allocate a write batch")
    }
    defer { rocksdb_writebatch_destroy(native) }
    for operation in batch.operations {
      switch operation {
      case .put(let key, let value):
        key.withUnsafeBufferPointer { k in
          value.withUnsafeBufferPointer { v in
            k.withMemoryRebound(to: CChar.self) { k in
              v.withMemoryRebound(to: CChar.self) { v in
                rocksdb_writebatch_put(native, k.baseAddress, k.count, v.baseAddress, v.count)
              }
            }
          }
        }
      case .delete(let key):
        key.withUnsafeBufferPointer { k in
          k.withMemoryRebound(to: CChar.self) { k in rocksdb_writebatch_delete(native, k.baseAddress, k.count) }
        }
      }
    }
    var error: UnsafeMutablePointer<CChar>? = nil
    rocksdb_write(db, sync ? syncWriteOptions : asyncWriteOptions, native, &error)
    if let message = Self.take(error) {
      throw CairnError(Self.isNoSpace(message) ? .noSpace : .ioError, "RocksDB write in \(path) failed: \(message)")
    }
  }

  /// A cursor over a RocksDB snapshot taken now; later writes are invisible to it.
  public func makeCursor() throws(CairnError) -> any KVCursor {
    guard let cursor = RocksDBCursor(store: self) else {
      throw CairnError(.internalError, "RocksDB could not create an iterator over \(path)")
    }
    return cursor
  }

  /// Writes an openable copy of the database to `directory` (hard links where possible).
  /// `directory` must not exist yet.
  public func checkpoint(to directory: String) throws(CairnError) {
    var error: UnsafeMutablePointer<CChar>? = nil
    let checkpoint = rocksdb_checkpoint_object_create(db, &error)
    defer { if let checkpoint { rocksdb_checkpoint_object_destroy(checkpoint) } }
    if let message = Self.take(error) { throw CairnError(.ioError, "RocksDB checkpoint of \(path) failed: \(message)") }
    guard let checkpoint else { throw CairnError(.internalError, "RocksDB returned no checkpoint object for \(path)") }
    // 0: always flush the memtable, so the checkpoint needs no WAL replay beyond what it copies.
    rocksdb_checkpoint_create(checkpoint, directory, 0, &error)
    if let message = Self.take(error) {
      throw CairnError(
        Self.isNoSpace(message) ? .noSpace : .ioError,
        "RocksDB checkpoint of \(path) to \(directory) failed: \(message)")
    }
  }

  // MARK: C helpers

  /// Copies a C error string into a Swift string and frees it.
  static func take(_ error: UnsafeMutablePointer<CChar>?) -> String? {
    guard let error else { return nil }
    defer { rocksdb_free(error) }
    return String(cString: error)
  }

  static func copy(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> Bytes {
    guard let pointer, length > 0 else { return [] }
    return Bytes(UnsafeRawBufferPointer(start: pointer, count: length))
  }

  static func isNoSpace(_ message: String) -> Bool {
    message.contains("No space left on device") || message.contains("Disk quota exceeded")
  }

  static func openError(path: String, message: String) -> CairnError {
    let lower = message.lowercased()
    if lower.contains("lock")
      && (lower.contains("resource temporarily unavailable") || lower.contains("lock hold")
        || lower.contains("no locks available"))
    {
      return CairnError(.unavailable, "data directory \(path) is in use by another process", details: [message])
    }
    if isNoSpace(message) {
      return CairnError(.noSpace, "data directory \(path) is on a full disk", details: [message])
    }
    return CairnError(.ioError, "data directory \(path) is unreadable or corrupt", details: [message])
  }
}
