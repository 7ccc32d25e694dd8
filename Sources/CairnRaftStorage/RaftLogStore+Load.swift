import CairnCore
import CairnKV
import CairnRaft

extension RaftLogStore {
  /// Reads back what earlier calls persisted, to construct a `RaftNode` after a restart: the hard
  /// state, the latest snapshot and the entries after it. Returns nil when the store has never
  /// held a Raft log (the server then bootstraps with `overwrite(with:)`).
  ///
  /// Throws `.ioError` when the records are corrupt or inconsistent (a gap, a term going back,
  /// an entry from a future term, a commit index past the log) or from an unknown format version,
  /// and `.tooLarge` when more than `limits.maxEntriesPerLoad` entries follow the snapshot.
  /// Entries at or below the snapshot index (left by an interrupted compaction) are ignored.
  public func load() throws(CairnError) -> PersistentState? {
    let version = try storedVersion()
    let hardStateBytes = try store.get(Self.hardStateKey)
    let snapshot = try storedSnapshot()
    guard let version else {
      if hardStateBytes == nil, snapshot == nil, try store.scan(prefix: [Self.keyPrefix], limit: 1).isEmpty {
        return nil
      }
      throw corrupt("the format version record is missing")
    }
    precondition(Self.readableVersions.contains(version))
    guard let hardStateBytes else { throw corrupt("the hard state record is missing") }
    guard let snapshot else { throw corrupt("the snapshot record is missing") }
    let hardState = try decodeHardState(hardStateBytes)

    var entries: [LogEntry] = []
    var expected = snapshot.metadata.index + 1
    var previousTerm = snapshot.metadata.term
    let cursor = try store.makeCursor()
    cursor.seek(Self.entryKey(expected))
    while cursor.isValid, cursor.key.starts(with: Self.entryPrefix) {
      guard entries.count < limits.maxEntriesPerLoad else {
        throw CairnError(
          .tooLarge,
          "the Raft log holds more than \(limits.maxEntriesPerLoad) entries after its snapshot (maxEntriesPerLoad); "
            + "compaction is not keeping up")
      }
      let entry = try decodeEntry(key: cursor.key, value: cursor.value)
      guard entry.index == expected else {
        throw corrupt("the log has a gap: entry \(entry.index) follows \(expected - 1)")
      }
      guard entry.term >= previousTerm else {
        throw corrupt("entry \(entry.index) has term \(entry.term), below the previous term \(previousTerm)")
      }
      guard entry.term <= hardState.term else {
        throw corrupt("entry \(entry.index) has term \(entry.term), beyond the persisted term \(hardState.term)")
      }
      entries.append(entry)
      previousTerm = entry.term
      expected += 1
      cursor.next()
    }
    guard hardState.commitIndex <= expected - 1 else {
      throw corrupt("the commit index \(hardState.commitIndex) is past the last persisted entry \(expected - 1)")
    }
    guard snapshot.metadata.term <= hardState.term else {
      throw corrupt("the snapshot's term \(snapshot.metadata.term) is beyond the persisted term \(hardState.term)")
    }
    return PersistentState(hardState: hardState, snapshot: snapshot, entries: entries)
  }

  /// Up to `limits.maxEntriesPerRead` persisted entries from `from` through `through`, in order,
  /// stopping at the first missing index. For serving old entries without loading the whole log.
  public func entries(from: LogIndex, through: LogIndex) throws(CairnError) -> [LogEntry] {
    guard from <= through else { return [] }
    var result: [LogEntry] = []
    let cursor = try store.makeCursor()
    cursor.seek(Self.entryKey(from))
    var expected = from
    while cursor.isValid, cursor.key.starts(with: Self.entryPrefix), expected <= through,
      result.count < limits.maxEntriesPerRead
    {
      let entry = try decodeEntry(key: cursor.key, value: cursor.value)
      guard entry.index == expected else { break }
      result.append(entry)
      expected += 1
      cursor.next()
    }
    return result
  }

  /// The persisted hard state, or nil if none was written.
  public func hardState() throws(CairnError) -> HardState? {
    guard let bytes = try store.get(Self.hardStateKey) else { return nil }
    return try decodeHardState(bytes)
  }

  /// The persisted snapshot (metadata and its small opaque data), or nil if none was written.
  public func storedSnapshot() throws(CairnError) -> Snapshot? {
    guard let bytes = try store.get(Self.snapshotKey) else { return nil }
    return try decode(Snapshot.self, from: bytes, what: "snapshot")
  }

  /// The persisted format version; throws when it is malformed or not one this build reads.
  func storedVersion() throws(CairnError) -> UInt32? {
    guard let bytes = try store.get(Self.versionKey) else { return nil }
    guard bytes.count == 4 else { throw corrupt("the format version record has \(bytes.count) bytes, not 4") }
    let version = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    guard Self.readableVersions.contains(version) else {
      throw CairnError(
        .ioError,
        "the Raft log has format version \(version), but this build reads only versions "
          + "\(Self.readableVersions.lowerBound)–\(Self.readableVersions.upperBound) "
          + "(written by a different Cairn release?)")
    }
    return version
  }

  private func decodeEntry(key: Bytes, value: Bytes) throws(CairnError) -> LogEntry {
    guard let index = Self.index(ofEntryKey: key) else { throw corrupt("malformed log entry key \(key)") }
    guard index > 0 else { throw corrupt("a log entry is stored at index 0") }
    let entry: LogEntry
    do { entry = try RaftWireCodec.decodeLogEntry(value) } catch {
      throw corrupt("the log entry \(index) record is malformed", details: [error.description])
    }
    guard entry.index == index else {
      throw corrupt("the entry stored under index \(index) says it is entry \(entry.index)")
    }
    return entry
  }

  private func decodeHardState(_ bytes: Bytes) throws(CairnError) -> HardState {
    do { return try RaftWireCodec.decodeHardState(bytes) } catch {
      throw corrupt("the hard state record is malformed", details: [error.description])
    }
  }

  private func decode<T: Decodable>(_ type: T.Type, from bytes: Bytes, what: String) throws(CairnError) -> T {
    do { return try BinaryDecoder().decodeOrThrow(type, from: bytes) } catch {
      throw corrupt("the \(what) record is malformed", details: [error.description])
    }
  }

  private func corrupt(_ message: String, details: [String] = []) -> CairnError {
    CairnError(.ioError, "the Raft log is corrupt: \(message)", details: details)
  }
}
