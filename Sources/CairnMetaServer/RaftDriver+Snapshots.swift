import CairnCore
import CairnKV
import CairnMetadata
import CairnRaft
import CairnRaftStorage
import CairnRocksDB
import CairnTransport
import Foundation
import Logging

/// Snapshots of a member: a RocksDB checkpoint of the whole store (state machine and Raft keys)
/// taken every `SnapshotSettings.everyEntries` applied entries, after which the log is compacted;
/// and the installation of a checkpoint received from the leader.
extension RaftDriver {
  /// Hands a verified checkpoint from the leader (in `staged`) and its `installSnapshot` message
  /// to the loop; returns once the loop has processed it (installed, or ignored when stale).
  func installSnapshot(_ message: Message, staged: String) async -> Result<Void, CairnError> {
    await withCheckedContinuation { (c: Waiter) in submit(.installSnapshot(message, staged: staged, c)) }
  }

  /// Takes a snapshot when enough entries were applied since the last one.
  func snapshotIfDue() async {
    guard let snapshots, snapshots.everyEntries > 0 else { return }
    let applied = node.appliedIndex
    guard applied >= node.snapshotMetadata.index + snapshots.everyEntries, machine.appliedIndex == applied else { return }
    let store = machine.store
    let directory = snapshots.directory
    let target = directory + "/\(applied)"
    let manifest: SnapshotManifest
    let data: [UInt8]
    do throws(CairnError) {
      manifest = try await Blocking.run { () throws(CairnError) -> SnapshotManifest in
        do {
          try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
          if FileManager.default.fileExists(atPath: target) { try FileManager.default.removeItem(atPath: target) }
        } catch {
          throw CairnError(.ioError, "cannot prepare snapshot directory \(target): \(error.localizedDescription)")
        }
        return try SnapshotFiles.checkpoint(of: store, to: target)
      }
      data = try manifest.encoded()
    } catch {
      // Not fatal: the log keeps growing until a later attempt succeeds.
      logger.error("cannot take a snapshot", metadata: ["index": "\(applied)", "error": "\(error)"])
      return
    }
    let effects = node.step(.compact(appliedIndex: applied, data: data))
    guard effects.snapshotToPersist != nil else { return }
    await carryOutSnapshot(effects, staged: nil)
    logger.info(
      "snapshot taken, log compacted",
      metadata: ["index": "\(applied)", "files": "\(manifest.files.count)", "bytes": "\(manifest.totalBytes)"])
    await Self.removeCheckpoints(in: directory, except: "\(applied)")
  }

  static func removeCheckpoints(in directory: String, except keep: String) async {
    _ = try? await Blocking.run { () throws(CairnError) in
      for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name != keep {
        try? FileManager.default.removeItem(atPath: directory + "/" + name)
      }
    }
  }

  /// Carries out a batch with a snapshot: our own (persist it, deleting the entries it covers) or
  /// one received from the leader (`installsSnapshot`: replace every state-machine key with the
  /// checkpoint's, and the Raft log with the new snapshot and this member's hard state, in ONE
  /// synced write; then reload what the state machine caches).
  func carryOutSnapshot(_ effects: RaftEffects, staged: String?) async {
    guard let snapshot = effects.snapshotToPersist else { return }
    nonisolated(unsafe) let log = self.log  // used by the loop only, one call at a time
    let machine = self.machine
    let installs = effects.installsSnapshot
    let hardState = effects.hardState
    if installs && staged == nil {
      logger.critical("asked to install a snapshot without its files; stopping")
      fatalError("snapshot install without staged files")
    }
    do throws(CairnError) {
      try await Blocking.run { () throws(CairnError) in
        var batch = try log.batch(
          hardState: hardState, snapshot: snapshot, installsSnapshot: installs, entries: effects.entriesToPersist)
        if installs, let staged {
          batch.append(try Self.stateMachineReplacement(live: machine.store, checkpoint: staged, index: snapshot.metadata.index))
        }
        try log.store.write(batch, sync: true)
        if installs {
          try machine.reloadAppliedIndex()
        }
      }
    } catch {
      logger.critical("cannot persist a Raft snapshot; stopping", metadata: ["error": "\(error)"])
      fatalError("cannot persist a Raft snapshot: \(error)")
    }
    if let hardState { durableHardState = hardState }
    if let last = effects.entriesToPersist.last {
      durableLastIndex = last.index
    } else if installs {
      durableLastIndex = snapshot.metadata.index  // the log was replaced by the snapshot
    }
    if installs {
      let stored = (try? Self.storedAddresses(in: machine.store)) ?? [:]
      lock.withLock { for (member, address) in stored { addressBook[member] = address } }
      // Proposals this member appended at indexes the snapshot covers may or may not be in it.
      let unknown = CairnError(.unavailable, "this member installed a snapshot from the leader; the write's outcome is unknown")
      for (index, waiting) in appended where index <= snapshot.metadata.index {
        appended[index] = nil
        waiting.waiter.resume(returning: .failure(unknown))
      }
      for (index, waiting) in changeIndexes where index <= snapshot.metadata.index {
        changeIndexes[index] = nil
        waiting.waiter.resume(returning: .failure(unknown))
      }
      logger.info(
        "snapshot installed from the leader",
        metadata: ["index": "\(snapshot.metadata.index)", "term": "\(snapshot.metadata.term)"])
    }
    // Steps 2, 4, 5 for the rest of the batch (already persisted above).
    var rest = RaftBatch()
    var remaining = effects
    remaining.snapshotToPersist = nil
    remaining.installsSnapshot = false
    remaining.entriesToPersist = []
    remaining.hardState = nil
    rest.merge(remaining)
    await carryOut(rest)
  }

  /// Deletes every state-machine key of `live` (every key outside the Raft log's prefix) and
  /// copies the checkpoint's, which must hold the state at `index`.
  static func stateMachineReplacement(live: any KVStore, checkpoint: String, index: LogIndex) throws(CairnError)
    -> WriteBatch
  {
    var batch = WriteBatch()
    let cursor = try live.makeCursor()
    cursor.seek([])
    while cursor.isValid {
      if cursor.key.first != RaftLogStore.keyPrefix { batch.delete(cursor.key) }
      cursor.next()
    }
    let source = try RocksDBStore(path: checkpoint)
    let applied = try MetadataStateMachine(store: source).appliedIndex
    guard applied == index else {
      throw CairnError(
        .protocolError, "the snapshot's state is at applied index \(applied), not the snapshot index \(index)")
    }
    let incoming = try source.makeCursor()
    incoming.seek([])
    while incoming.isValid {
      if incoming.key.first != RaftLogStore.keyPrefix { batch.put(incoming.key, incoming.value) }
      incoming.next()
    }
    return batch
  }
}
