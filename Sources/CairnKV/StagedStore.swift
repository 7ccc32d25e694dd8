import CairnCore

/// A `KVStore` view that stages writes in memory and hands them to the store underneath in one
/// write batch (`flush`), while every read through it — point reads and cursors — already sees
/// them: read-your-writes over several commands, one atomic (and, if asked, synced) store write
/// for all of them. The metadata state machine applies a whole batch of committed Raft entries
/// through one (one RocksDB write per batch instead of one per entry).
///
/// It also keeps the newest values of keys that `isCached` selects (a few small, hot records such
/// as volume records and counters), filled by reads and kept current by flushes, so they are not
/// read from the store again. The cache is only correct while every write to those keys goes
/// through this view: whoever replaces the store's contents behind its back calls
/// `invalidateCache()`.
///
/// Not thread-safe: one writer (the state machine, under its apply lock) uses it. Readers on other
/// threads read the store underneath, which sees staged writes only once they are flushed.
public final class StagedStore: KVStore, @unchecked Sendable {
  public let base: any KVStore
  private let isCached: @Sendable (Bytes) -> Bool
  private let cacheLimit: Int
  /// Staged values by key; nil is a staged deletion.
  private var staged: [HashedKey: Bytes?] = [:]
  /// The staged keys in byte order (for cursors), kept sorted on insertion.
  private var stagedKeys: [Bytes] = []
  /// Known current values of cached keys (nil: known to be absent).
  private var cache: [HashedKey: Bytes?] = [:]

  /// - Parameters:
  ///   - isCached: which keys' values to remember across flushes.
  ///   - cacheLimit: the cache is emptied when it would hold more keys than this.
  public init(base: any KVStore, cacheLimit: Int = 4096, isCached: @escaping @Sendable (Bytes) -> Bool = { _ in false })
  {
    self.base = base
    self.cacheLimit = cacheLimit
    self.isCached = isCached
  }

  /// Whether writes are staged and not yet flushed.
  public var hasStagedWrites: Bool { !stagedKeys.isEmpty }

  /// Adds `batch` to the staged writes (visible to reads through this view at once).
  public func stage(_ batch: WriteBatch) {
    for operation in batch.operations {
      switch operation {
      case .put(let key, let value): remember(key, value)
      case .delete(let key): remember(key, nil)
      }
    }
  }

  private func remember(_ key: Bytes, _ value: Bytes?) {
    if staged.updateValue(value, forKey: HashedKey(key)) == nil {
      stagedKeys.insert(key, at: Self.lowerBound(stagedKeys, key))
    }
  }

  /// Writes the staged writes to the store underneath in ONE batch (synced if asked), then forgets
  /// them. The batch holds each staged key once, with its last staged value, in key order: the
  /// same end state as the staged operations in their order, with fewer and cheaper inserts (a
  /// key written by several commands is written once; RocksDB's memtable inserts sorted keys
  /// from where the previous one landed). On failure the staged writes are dropped too (the
  /// caller stops or starts over from its own state) and the cache is emptied.
  public func flush(sync: Bool) throws(CairnError) {
    guard !stagedKeys.isEmpty else { return }
    var batch = WriteBatch()
    for key in stagedKeys {
      guard let value = staged[HashedKey(key)] else { continue }
      if let value { batch.put(key, value) } else { batch.delete(key) }
    }
    let written = staged
    discardStaged()
    do throws(CairnError) {
      try base.write(batch, sync: sync)
    } catch {
      cache = [:]
      throw error
    }
    for (key, value) in written where isCached(key.bytes) { cacheValue(key, value) }
  }

  /// Drops staged writes without writing them.
  public func discardStaged() {
    staged = [:]
    stagedKeys = []
  }

  /// Forgets every cached value (after the store's contents were replaced underneath).
  public func invalidateCache() { cache = [:] }

  private func cacheValue(_ key: HashedKey, _ value: Bytes?) {
    if cache[key] == nil, cache.count >= cacheLimit { cache = [:] }
    cache[key] = .some(value)
  }

  // MARK: KVStore

  public func get(_ key: Bytes) throws(CairnError) -> Bytes? {
    let hashed = HashedKey(key)
    if let value = staged[hashed] { return value }
    if let value = cache[hashed] { return value }
    let value = try base.get(key)
    if isCached(key) { cacheValue(hashed, value) }
    return value
  }

  public func makeCursor() throws(CairnError) -> any KVCursor {
    let cursor = try base.makeCursor()
    guard !stagedKeys.isEmpty else { return cursor }
    return StagedCursor(base: cursor, keys: stagedKeys, values: staged)
  }

  /// Stages `batch` and flushes everything staged.
  public func write(_ batch: WriteBatch, sync: Bool) throws(CairnError) {
    stage(batch)
    try flush(sync: sync)
  }

  /// A checkpoint of the store underneath (staged writes are not in it).
  public func checkpoint(to directory: String) throws(CairnError) { try base.checkpoint(to: directory) }

  /// The index of the first of the sorted `keys` that is not below `key`.
  static func lowerBound(_ keys: [Bytes], _ key: Bytes) -> Int {
    var low = 0
    var high = keys.count
    while low < high {
      let mid = (low + high) / 2
      if keys[mid].lexicographicallyPrecedes(key) { low = mid + 1 } else { high = mid }
    }
    return low
  }
}

/// A cursor over a store cursor merged with staged writes (a snapshot of them taken when the cursor
/// was made): a staged put shows its value (over the store's), a staged deletion hides the key.
final class StagedCursor: KVCursor {
  private let base: any KVCursor
  private let keys: [Bytes]
  private let values: [HashedKey: Bytes?]
  /// Position in `keys`: in forward mode the first staged key not yet passed, in backward mode the
  /// last.
  private var index = 0
  private var forward = true
  /// Where the current key comes from: the staged writes or the store.
  private enum Source { case staged, base, none }
  private var source = Source.none

  init(base: any KVCursor, keys: [Bytes], values: [HashedKey: Bytes?]) {
    self.base = base
    self.keys = keys
    self.values = values
  }

  func seek(_ key: Bytes) {
    forward = true
    base.seek(key)
    index = StagedStore.lowerBound(keys, key)
    settleForward()
  }

  func seekForPrev(_ key: Bytes) {
    forward = false
    base.seekForPrev(key)
    // The last staged key <= key.
    var i = StagedStore.lowerBound(keys, key)
    if i < keys.count, keys[i] == key { i += 1 }
    index = i - 1
    settleBackward()
  }

  var isValid: Bool { source != .none }

  var key: Bytes {
    precondition(isValid, "cursor is not positioned")
    return source == .staged ? keys[index] : base.key
  }

  var value: Bytes {
    precondition(isValid, "cursor is not positioned")
    guard source == .staged else { return base.value }
    guard let entry = values[HashedKey(keys[index])], let value = entry else {
      preconditionFailure("staged deletion at the cursor")
    }
    return value
  }

  func next() {
    guard isValid else { return }
    if !forward {
      // Change direction: stand on the current key going forward, then step past it.
      seek(key)
    }
    if source == .staged { index += 1 } else { base.next() }
    settleForward()
  }

  func previous() {
    guard isValid else { return }
    if forward { seekForPrev(key) }
    if source == .staged { index -= 1 } else { base.previous() }
    settleBackward()
  }

  private func isDeletion(_ i: Int) -> Bool { values[HashedKey(keys[i])].map { $0 == nil } ?? false }

  /// Positions on the smaller of the store's and the staged key; a staged key shadows an equal
  /// store key (the store cursor moves past it) and a staged deletion is skipped.
  private func settleForward() {
    while true {
      let hasStaged = index < keys.count
      guard base.isValid || hasStaged else {
        source = .none
        return
      }
      if hasStaged, !base.isValid || !base.key.lexicographicallyPrecedes(keys[index]) {
        if base.isValid, base.key == keys[index] { base.next() }
        if isDeletion(index) {
          index += 1
          continue
        }
        source = .staged
      } else {
        source = .base
      }
      return
    }
  }

  /// The mirror of `settleForward`: the larger of the two, going backwards.
  private func settleBackward() {
    while true {
      let hasStaged = index >= 0 && index < keys.count
      guard base.isValid || hasStaged else {
        source = .none
        return
      }
      if hasStaged, !base.isValid || !keys[index].lexicographicallyPrecedes(base.key) {
        if base.isValid, base.key == keys[index] { base.previous() }
        if isDeletion(index) {
          index -= 1
          continue
        }
        source = .staged
      } else {
        source = .base
      }
      return
    }
  }
}

/// A key hashed as one block of bytes (`[UInt8]`'s own hashing feeds the hasher a byte at a time).
struct HashedKey: Hashable {
  let bytes: Bytes
  init(_ bytes: Bytes) { self.bytes = bytes }
  func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
}
