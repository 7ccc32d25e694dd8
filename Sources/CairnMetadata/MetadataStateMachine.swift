#if canImport(Glibc)
import Glibc
#endif
import CairnCore
import CairnKV

/// The deterministic metadata state machine: `apply(command, at: index)` turns a command into one
/// atomic, synced write batch over the `KVStore`, together with the applied log index. A replicated
/// log (Raft) feeds it committed commands in order; a single server feeds it directly. Failed
/// commands (a conflict, a missing volume) write nothing but the applied index, so every replica
/// reaches the same state.
public final class MetadataStateMachine: @unchecked Sendable {
  public let store: any KVStore
  /// Serializes applies; reads go straight to the store's snapshots.
  private let applyLock = NSLockLike()
  public private(set) var appliedIndex: UInt64

  public init(store: any KVStore) throws(CairnError) {
    self.store = store
    appliedIndex = try store.get(Keys.appliedIndex).map { Keys.readU64($0) } ?? 0
  }

  /// Applies `command` as log entry `index` (which must be `appliedIndex + 1`), durably unless
  /// `sync` is false (a replicated log that re-applies entries after `appliedIndex` on restart may
  /// skip the fsync: the next synced write to the same store makes this one durable too).
  public func apply(_ command: MetadataCommand, at index: UInt64, sync: Bool = true) throws(CairnError)
    -> Result<MetadataResult, CairnError>
  {
    try applyLock.withLock { () throws(CairnError) -> Result<MetadataResult, CairnError> in
      try applyLocked(command, at: index, sync: sync)
    }
  }

  /// Records log entry `index` (which must be `appliedIndex + 1`) as applied without a command
  /// (a replicated log's no-op and membership entries).
  public func skip(to index: UInt64, sync: Bool = true) throws(CairnError) {
    try applyLock.withLock { () throws(CairnError) in
      precondition(index == appliedIndex + 1, "applied \(appliedIndex), asked to skip \(index)")
      var batch = WriteBatch()
      batch.put(Keys.appliedIndex, Keys.u64(index))
      try store.write(batch, sync: sync)
      appliedIndex = index
    }
  }

  /// Re-reads the applied index after the store's contents were replaced (a snapshot install).
  public func reloadAppliedIndex() throws(CairnError) {
    try applyLock.withLock { () throws(CairnError) in
      appliedIndex = try store.get(Keys.appliedIndex).map { Keys.readU64($0) } ?? 0
    }
  }

  /// Applies `command` as the next local index (single-server mode). The index is chosen under
  /// the same lock as the apply, so concurrent callers never collide.
  public func applyNext(_ command: MetadataCommand) throws(CairnError) -> MetadataResult {
    try applyLock.withLock { () throws(CairnError) -> Result<MetadataResult, CairnError> in
      try applyLocked(command, at: appliedIndex + 1)
    }.get()
  }

  private func applyLocked(_ command: MetadataCommand, at index: UInt64, sync: Bool = true) throws(CairnError)
    -> Result<MetadataResult, CairnError>
  {
    precondition(index == appliedIndex + 1, "applied \(appliedIndex), asked to apply \(index)")
    var context = CommandContext(store: store)
    let outcome: Result<MetadataResult, CairnError>
    do throws(CairnError) {
      outcome = .success(try execute(command, in: &context))
    } catch {
      outcome = .failure(error)
      context.batch = WriteBatch()
    }
    context.batch.put(Keys.appliedIndex, Keys.u64(index))
    try store.write(context.batch, sync: sync)
    appliedIndex = index
    return outcome
  }

  private func execute(_ command: MetadataCommand, in context: inout CommandContext) throws(CairnError) -> MetadataResult {
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
        try VolumeOperations.fork(name, version: version, newName: newName, author: author, timeNanos: time, in: &context))
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
      try BlockOperations.collect(unreferenced: unreferenced, orphans: orphans, graceNanos: grace, timeNanos: time, in: &context)
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
