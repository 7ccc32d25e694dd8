import CairnCore
import CairnKV

#if canImport(Glibc)
  import Glibc
#endif

/// The deterministic metadata state machine: `apply(command, at: index)` turns a command into one
/// atomic, synced write batch over the `KVStore`, together with the applied log index. A replicated
/// log (Raft) feeds it committed commands in order; a single server feeds it directly. Failed
/// commands (a conflict, a missing volume) write nothing but the applied index, so every replica
/// reaches the same state.
public final class MetadataStateMachine: @unchecked Sendable {
  /// The store itself: what readers read (applied state only).
  public let store: any KVStore
  /// The applies' view of `store`: a batch of entries is staged here and written in one store
  /// write, and the few hot records every commit reads (volume records and names, counters) are
  /// remembered across batches. Only applies (under `applyLock`) touch it.
  private let view: StagedStore
  /// Serializes applies; reads go straight to the store's snapshots.
  private let applyLock = NSLockLike()
  public private(set) var appliedIndex: UInt64

  /// One committed log entry for `applyAll`.
  public enum LogItem: Sendable {
    /// A metadata command.
    case command(MetadataCommand)
    /// An entry without a metadata command (a replicated log's no-op and membership entries), with
    /// writes of its own outside the metadata tables (may be empty).
    case other(WriteBatch)
  }

  public init(store: any KVStore) throws(CairnError) {
    self.store = store
    view = StagedStore(base: store, cacheLimit: 4096) { key in
      guard let table = key.first else { return false }
      return table == Keys.volume || table == Keys.volumeByName || table == Keys.meta
    }
    appliedIndex = try store.get(Keys.appliedIndex).map { Keys.readU64($0) } ?? 0
  }

  /// Applies `command` as log entry `index` (which must be `appliedIndex + 1`), durably unless
  /// `sync` is false (a replicated log that re-applies entries after `appliedIndex` on restart may
  /// skip the fsync: the next synced write to the same store makes this one durable too).
  public func apply(_ command: MetadataCommand, at index: UInt64, sync: Bool = true) throws(CairnError)
    -> Result<MetadataResult, CairnError>
  {
    guard let result = try applyAll([(index, .command(command))], sync: sync).first ?? nil else {
      preconditionFailure("a command entry always has a result")
    }
    return result
  }

  /// Applies consecutive log entries (the first must be `appliedIndex + 1`) with ONE store write
  /// for all of them, synced if asked: each entry's command sees the writes of the entries before
  /// it, and the batch — with the applied index of its last entry — is atomic. Returns each
  /// entry's result (nil for `.other`). Failed commands write nothing, as with `apply`.
  public func applyAll(_ items: [(index: UInt64, item: LogItem)], sync: Bool) throws(CairnError)
    -> [Result<MetadataResult, CairnError>?]
  {
    try applyLock.withLock { () throws(CairnError) -> [Result<MetadataResult, CairnError>?] in
      try applyLocked(items, sync: sync)
    }
  }

  /// `applyAll` under `applyLock`.
  private func applyLocked(_ items: [(index: UInt64, item: LogItem)], sync: Bool) throws(CairnError)
    -> [Result<MetadataResult, CairnError>?]
  {
    precondition(!view.hasStagedWrites, "a batch of applies began with writes still staged")
    var results: [Result<MetadataResult, CairnError>?] = []
    results.reserveCapacity(items.count)
    var last = appliedIndex
    for (index, item) in items {
      precondition(index == last + 1, "applied \(last), asked to apply \(index)")
      switch item {
      case .command(let command): results.append(stage(command))
      case .other(let batch):
        view.stage(batch)
        results.append(nil)
      }
      last = index
    }
    guard last > appliedIndex else { return results }
    var tail = WriteBatch()
    tail.put(Keys.appliedIndex, Keys.u64(last))
    view.stage(tail)
    try view.flush(sync: sync)
    appliedIndex = last
    return results
  }

  /// Records log entry `index` (which must be `appliedIndex + 1`) as applied without a command
  /// (a replicated log's no-op and membership entries).
  public func skip(to index: UInt64, sync: Bool = true) throws(CairnError) {
    _ = try applyAll([(index, .other(WriteBatch()))], sync: sync)
  }

  /// Re-reads the applied index after the store's contents were replaced (a snapshot install).
  public func reloadAppliedIndex() throws(CairnError) {
    try applyLock.withLock { () throws(CairnError) in
      view.discardStaged()
      view.invalidateCache()
      appliedIndex = try store.get(Keys.appliedIndex).map { Keys.readU64($0) } ?? 0
    }
  }

  /// Applies `command` as the next local index (single-server mode). The index is chosen under
  /// the same lock as the apply, so concurrent callers never collide.
  public func applyNext(_ command: MetadataCommand) throws(CairnError) -> MetadataResult {
    let result = try applyLock.withLock { () throws(CairnError) -> Result<MetadataResult, CairnError>? in
      try applyLocked([(appliedIndex + 1, .command(command))], sync: true).first ?? nil
    }
    guard let result else { preconditionFailure("a command entry always has a result") }
    return try result.get()
  }

  /// Runs `command` against the staged view and stages its writes (none when it fails).
  private func stage(_ command: MetadataCommand) -> Result<MetadataResult, CairnError> {
    var context = CommandContext(store: view)
    do throws(CairnError) {
      let result = try execute(command, in: &context)
      view.stage(context.batch)
      return .success(result)
    } catch {
      return .failure(error)
    }
  }

  private func execute(_ command: MetadataCommand, in context: inout CommandContext) throws(CairnError)
    -> MetadataResult
  {
    switch command {
    case .createVolume(let name, let settings, let time):
      return .volume(try VolumeOperations.create(name, settings: settings, timeNanos: time, in: &context))
    case .deleteVolume(let name):
      try VolumeOperations.delete(name, in: &context)
      return .done
    case .renameVolume(let from, let to, let time):
      return .volume(try VolumeOperations.rename(from, to: to, timeNanos: time, in: &context))
    case .commit(let request, let placements, let time):
      context.timeNanos = time
      for p in placements { context.placements[p.address] = p }
      return .commit(try CommitOperation.apply(request, timeNanos: time, in: &context))
    case .rollback(let name, let version, let author, let time):
      context.timeNanos = time
      return .commit(try VolumeOperations.rollback(name, to: version, author: author, timeNanos: time, in: &context))
    case .fork(let name, let version, let newName, let author, let time):
      context.timeNanos = time
      return .volume(
        try VolumeOperations.fork(
          name, version: version, newName: newName, author: author, timeNanos: time, in: &context))
    case .registerChunkServer(var record):
      // A server re-registering (new address) stays draining if it was.
      if let raw = try context.store.get(Keys.chunkServer(record.id)) {
        record.isDraining = try RecordCodec.decode(ChunkServerRecord.self, raw).isDraining
      }
      context.batch.put(Keys.chunkServer(record.id), RecordCodec.encode(record))
      return .done
    case .recordBlockLocations(let placements):
      for placement in placements {
        guard var record = try context.blockRecord(placement.address), !record.isDeleting else { continue }
        let merged = Set(record.locations).union(placement.servers).sorted()
        if merged != record.locations {
          record.locations = merged
          context.batch.put(Keys.block(placement.address), RecordCodec.encode(record))
        }
      }
      return .done
    case .removeBlockLocations(let placements):
      try BlockOperations.removeLocations(placements, in: &context)
      return .done
    case .collectGarbage(let unreferenced, let orphans, let grace, let time):
      try BlockOperations.collect(
        unreferenced: unreferenced, orphans: orphans, graceNanos: grace, timeNanos: time, in: &context)
      return .done
    case .forgetBlocks(let addresses):
      try BlockOperations.forget(addresses, in: &context)
      return .done
    case .setChunkServerDraining(let id, let isDraining):
      guard let raw = try context.store.get(Keys.chunkServer(id)) else {
        throw .notFound("chunk server \(id) is not registered")
      }
      var record = try RecordCodec.decode(ChunkServerRecord.self, raw)
      record.isDraining = isDraining ? true : nil
      context.batch.put(Keys.chunkServer(id), RecordCodec.encode(record))
      return .done
    }
  }
}

/// A tiny mutex with a typed-throws-friendly `withLock`.
final class NSLockLike: @unchecked Sendable {
  private var mutex = pthread_mutex_t()
  init() { pthread_mutex_init(&mutex, nil) }
  deinit { pthread_mutex_destroy(&mutex) }
  func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    pthread_mutex_lock(&mutex)
    defer { pthread_mutex_unlock(&mutex) }
    return try body()
  }
}
