import CairnCore

/// Keys and values are plain byte arrays.
public typealias Bytes = [UInt8]

/// An ordered key-value store with atomic write batches: the seam between the metadata state
/// machine and storage. `RocksDBStore` is the real one, `MemoryStore` the in-memory twin.
public protocol KVStore: AnyObject, Sendable {
  /// The value stored under `key`, or nil.
  func get(_ key: Bytes) throws(CairnError) -> Bytes?
  /// A cursor over a consistent view of the store as of now.
  func makeCursor() throws(CairnError) -> any KVCursor
  /// Applies every operation of `batch` atomically. With `sync`, returns only once the batch is
  /// durable (the write-ahead log is fsynced).
  func write(_ batch: WriteBatch, sync: Bool) throws(CairnError)
  /// Writes a consistent, openable copy of the whole store to `directory` (which must not exist).
  func checkpoint(to directory: String) throws(CairnError)
}

/// A forward/backward cursor over keys in byte order.
public protocol KVCursor: AnyObject {
  /// Positions at the first key >= `key`.
  func seek(_ key: Bytes)
  /// Positions at the last key <= `key`.
  func seekForPrev(_ key: Bytes)
  var isValid: Bool { get }
  /// Key at the cursor; only when `isValid`.
  var key: Bytes { get }
  /// Value at the cursor; only when `isValid`.
  var value: Bytes { get }
  func next()
  func previous()
}

/// An ordered list of puts and deletes applied atomically.
public struct WriteBatch: Sendable {
  public enum Operation: Sendable, Equatable {
    case put(Bytes, Bytes)
    case delete(Bytes)
  }

  public private(set) var operations: [Operation] = []

  public init() {}

  public mutating func put(_ key: Bytes, _ value: Bytes) { operations.append(.put(key, value)) }
  public mutating func delete(_ key: Bytes) { operations.append(.delete(key)) }
  public mutating func append(_ other: WriteBatch) { operations.append(contentsOf: other.operations) }

  public var isEmpty: Bool { operations.isEmpty }
  public var count: Int { operations.count }
}

extension KVStore {
  /// All pairs whose key starts with `prefix`, in key order, at most `limit`.
  public func scan(prefix: Bytes, limit: Int = .max) throws(CairnError) -> [(key: Bytes, value: Bytes)] {
    let cursor = try makeCursor()
    var out: [(key: Bytes, value: Bytes)] = []
    cursor.seek(prefix)
    while cursor.isValid, out.count < limit {
      let k = cursor.key
      guard k.starts(with: prefix) else { break }
      out.append((k, cursor.value))
      cursor.next()
    }
    return out
  }
}
