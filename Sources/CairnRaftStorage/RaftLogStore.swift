import CairnCore
import CairnKV
import CairnRaft

/// The durable Raft log of one member, kept in any `KVStore` under its own key prefix so it can
/// share the metadata server's RocksDB with the state machine.
///
/// Key layout (all keys start with `RaftLogStore.keyPrefix`, 0x52 `R`; the state machine uses
/// other first bytes):
///
/// | key | value |
/// |---|---|
/// | `R V` | format version, 4 bytes big-endian (`formatVersion`; `readableVersions` are read) |
/// | `R H` | `HardState` (`RaftWireCodec`; version 1: `BinaryEncoder`) |
/// | `R S` | `Snapshot` (metadata and the application's opaque, small data; `BinaryEncoder`) |
/// | `R E` + index (8 bytes big-endian) | `LogEntry` (`RaftWireCodec`; version 1: `BinaryEncoder`); byte order is index order |
///
/// Every mutating call writes one `WriteBatch` with `sync: true`, so a crash leaves either all of
/// a call's writes or none of them. Not thread-safe: one owner (the server's Raft loop) uses it.
public final class RaftLogStore {
  /// Named bounds of the store.
  public struct Limits: Sendable, Equatable {
    /// Most entries `load()` returns; a longer log means compaction is not keeping up, and the
    /// server would hold all of it in memory.
    public var maxEntriesPerLoad: Int
    /// Most entries one `entries(from:through:)` call returns.
    public var maxEntriesPerRead: Int
    /// Largest encoded entry or snapshot record (what `BinaryDecoder` accepts for one blob).
    public var maxRecordBytes: Int

    /// Bounds with defaults suited to the metadata server.
    public init(
      maxEntriesPerLoad: Int = 1 << 20, maxEntriesPerRead: Int = 4096,
      maxRecordBytes: Int = CairnCore.Limits.maxFramePayloadBytes
    ) {
      precondition(maxEntriesPerLoad > 0 && maxEntriesPerRead > 0 && maxRecordBytes > 0)
      self.maxEntriesPerLoad = maxEntriesPerLoad
      self.maxEntriesPerRead = maxEntriesPerRead
      self.maxRecordBytes = maxRecordBytes
    }
  }

  /// The first byte of every key this store writes.
  public static let keyPrefix: UInt8 = 0x52
  /// The format this build writes. Version 2: log entries and the hard state in the hand-coded
  /// `RaftWireCodec` layout (and replicated commands in theirs), so an older build, which reads
  /// only version 1, refuses the store by name instead of misreading records.
  public static let formatVersion: UInt32 = 2
  /// The formats this build reads: version 1 records (generic `BinaryEncoder`) are still decoded,
  /// and the first write after an upgrade stamps the store with version 2.
  public static let readableVersions: ClosedRange<UInt32> = 1...2

  static let versionKey: Bytes = [keyPrefix, 0x56]  // R V
  static let hardStateKey: Bytes = [keyPrefix, 0x48]  // R H
  static let snapshotKey: Bytes = [keyPrefix, 0x53]  // R S
  static let entryPrefix: Bytes = [keyPrefix, 0x45]  // R E

  static func entryKey(_ index: LogIndex) -> Bytes {
    var key = entryPrefix
    for shift in stride(from: 56, through: 0, by: -8) { key.append(UInt8(truncatingIfNeeded: index >> UInt64(shift))) }
    return key
  }

  static func index(ofEntryKey key: Bytes) -> LogIndex? {
    guard key.count == entryPrefix.count + 8, key.starts(with: entryPrefix) else { return nil }
    return key.dropFirst(entryPrefix.count).reduce(0) { $0 << 8 | LogIndex($1) }
  }

  /// The underlying store.
  public let store: any KVStore
  /// The bounds in force.
  public let limits: Limits

  /// Opens the Raft log kept in `store`. Throws `.ioError` if the store holds a Raft log of an
  /// unknown format version (written by a newer Cairn) or a malformed version record.
  public init(store: any KVStore, limits: Limits = Limits()) throws(CairnError) {
    self.store = store
    self.limits = limits
    _ = try storedVersion()
  }

  // MARK: Writing

  /// Carries out step 1 of the effects contract: persists `effects.snapshotToPersist` (deleting
  /// the entries it covers, or all entries when `installsSnapshot`), `effects.entriesToPersist`
  /// (replacing any persisted entry at or after the first new index) and `effects.hardState`, in
  /// one synced batch. Returns once it is durable; only then may the messages be sent.
  public func persist(_ effects: RaftEffects) throws(CairnError) {
    guard effects.needsPersistence else { return }
    try persist(
      hardState: effects.hardState, snapshot: effects.snapshotToPersist,
      installsSnapshot: effects.installsSnapshot, entries: effects.entriesToPersist)
  }

  /// Persists the given parts atomically and durably (see `persist(_:)`). `entries` must be
  /// contiguous and ascending and, with a snapshot, lie after it.
  public func persist(
    hardState: HardState?, snapshot: Snapshot?, installsSnapshot: Bool = false, entries: [LogEntry]
  ) throws(CairnError) {
    let batch = try batch(
      hardState: hardState, snapshot: snapshot, installsSnapshot: installsSnapshot, entries: entries)
    try store.write(batch, sync: true)
  }

  /// The write batch `persist(hardState:snapshot:installsSnapshot:entries:)` would write, for a
  /// caller that must commit other keys in the same atomic write (a server installing a received
  /// snapshot replaces the state machine's keys in the same batch).
  public func batch(
    hardState: HardState?, snapshot: Snapshot?, installsSnapshot: Bool = false, entries: [LogEntry]
  ) throws(CairnError) -> WriteBatch {
    for (offset, entry) in entries.enumerated().dropFirst() {
      precondition(entry.index == entries[offset - 1].index + 1, "entries to persist are not contiguous")
      precondition(entry.term >= entries[offset - 1].term, "entries to persist go back in term")
    }
    if let snapshot, let first = entries.first {
      precondition(first.index > snapshot.metadata.index, "entries to persist are covered by the snapshot")
    }
    precondition(!installsSnapshot || snapshot != nil, "installsSnapshot without a snapshot")

    var batch = WriteBatch()
    batch.put(Self.versionKey, Self.encodeVersion(Self.formatVersion))
    if let snapshot {
      batch.put(Self.snapshotKey, try encode(snapshot, what: "snapshot"))
      let covered: LogIndex? = installsSnapshot ? nil : snapshot.metadata.index
      try deleteEntries(from: 1, through: covered, into: &batch)
    }
    if let last = entries.last {
      // Entries at the new indexes are overwritten by the puts; delete the rest of the suffix.
      try deleteEntries(from: last.index + 1, through: nil, into: &batch)
      for entry in entries {
        batch.put(Self.entryKey(entry.index), try encode(entry, what: "log entry \(entry.index)"))
      }
    }
    if let hardState { batch.put(Self.hardStateKey, try encode(hardState, what: "hard state")) }
    return batch
  }

  /// Replaces the whole Raft log with `state` (every key under the prefix is deleted first), in
  /// one synced batch. Used to bootstrap a new member (`.bootstrap(voters:)` or `.joining`) and to
  /// rewrite the Raft keys of a checkpoint received from the leader before it is swapped in (the
  /// checkpoint carries the *leader's* hard state and log, which must never be adopted).
  public func overwrite(with state: PersistentState) throws(CairnError) {
    var batch = WriteBatch()
    for (key, _) in try store.scan(prefix: [Self.keyPrefix]) { batch.delete(key) }
    batch.put(Self.versionKey, Self.encodeVersion(Self.formatVersion))
    batch.put(Self.hardStateKey, try encode(state.hardState, what: "hard state"))
    batch.put(Self.snapshotKey, try encode(state.snapshot, what: "snapshot"))
    for (offset, entry) in state.entries.enumerated() {
      precondition(entry.index == state.snapshot.metadata.index + 1 + LogIndex(offset), "log has a gap")
      batch.put(Self.entryKey(entry.index), try encode(entry, what: "log entry \(entry.index)"))
    }
    try store.write(batch, sync: true)
  }

  /// Deletes the persisted entries at or below `index` (log compaction), in one synced batch.
  /// `index` may not exceed the persisted snapshot's index: the snapshot must cover what goes.
  public func compact(through index: LogIndex) throws(CairnError) {
    guard let snapshot = try storedSnapshot() else {
      throw CairnError(.invalidArgument, "cannot compact the Raft log through \(index): no snapshot is persisted")
    }
    guard index <= snapshot.metadata.index else {
      throw CairnError(
        .invalidArgument,
        "cannot compact the Raft log through \(index): the persisted snapshot covers only \(snapshot.metadata.index)")
    }
    var batch = WriteBatch()
    try deleteEntries(from: 1, through: index, into: &batch)
    if !batch.isEmpty { try store.write(batch, sync: true) }
  }

  /// Adds a delete of every persisted entry key in `from...through` (nil: to the end).
  private func deleteEntries(from: LogIndex, through: LogIndex?, into batch: inout WriteBatch) throws(CairnError) {
    if let through, through < from { return }
    let cursor = try store.makeCursor()
    cursor.seek(Self.entryKey(from))
    while cursor.isValid, cursor.key.starts(with: Self.entryPrefix) {
      // A malformed key in the entry range (not 8 index bytes) goes too; `load` would refuse it.
      if let through, let index = Self.index(ofEntryKey: cursor.key), index > through { break }
      batch.delete(cursor.key)
      cursor.next()
    }
  }

  private func encode(_ entry: LogEntry, what: @autoclosure () -> String) throws(CairnError) -> Bytes {
    try checkSize(RaftWireCodec.encode(entry), what: what())
  }

  private func encode(_ state: HardState, what: String) throws(CairnError) -> Bytes {
    try checkSize(RaftWireCodec.encode(state), what: what)
  }

  private func encode<T: Encodable>(_ value: T, what: String) throws(CairnError) -> Bytes {
    let bytes: Bytes
    do { bytes = try BinaryEncoder().encode(value) } catch {
      throw CairnError(.internalError, "cannot encode the Raft \(what): \(error)")
    }
    return try checkSize(bytes, what: what)
  }

  private func checkSize(_ bytes: Bytes, what: @autoclosure () -> String) throws(CairnError) -> Bytes {
    guard bytes.count <= limits.maxRecordBytes else {
      let what = what()
      throw CairnError(
        .tooLarge, "Raft \(what) is \(bytes.count) bytes, over the limit of \(limits.maxRecordBytes) (maxRecordBytes)")
    }
    return bytes
  }

  static func encodeVersion(_ version: UInt32) -> Bytes {
    [UInt8(version >> 24 & 0xFF), UInt8(version >> 16 & 0xFF), UInt8(version >> 8 & 0xFF), UInt8(version & 0xFF)]
  }
}
