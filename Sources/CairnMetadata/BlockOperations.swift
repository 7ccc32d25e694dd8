import CairnCore
import CairnKV

/// Commands over block records that repair and garbage collection propose: dropping bad or moved
/// locations, fencing unreferenced blocks for deletion, and forgetting deleted ones. Every
/// decision that allows a block to be deleted is taken here, in the log, so all replicas agree and
/// no referenced block can be deleted: a block is fenced only while its reference count is zero,
/// a fenced block cannot be referenced again, and a placement checked before a deletion finished
/// is refused (see `CommandContext.finishBlocks`).
public enum BlockOperations {
  /// A commit refused because garbage collection raced it: checking the blocks again (and, if
  /// they were deleted, uploading them again) and retrying is safe.
  public static func isGarbageRefusal(_ error: CairnError) -> Bool {
    error.code == .missingBlocks && error.message.contains("garbage-collected")
  }

  /// Most blocks one garbage or location command may name.
  static let maxBlocksPerCommand = 10_000

  static func removeLocations(_ placements: [BlockPlacement], in context: inout CommandContext) throws(CairnError) {
    guard placements.count <= maxBlocksPerCommand else { throw .invalid("too many blocks in one command") }
    for placement in placements {
      guard var record = try context.blockRecord(placement.address) else { continue }
      let kept = record.locations.filter { !placement.servers.contains($0) }
      guard kept != record.locations else { continue }
      record.locations = kept
      context.batch.put(Keys.block(placement.address), RecordCodec.encode(record))
    }
  }

  static func collect(
    unreferenced: [BlockAddress], orphans: [BlockPlacement], graceNanos: Int64, timeNanos: Int64,
    in context: inout CommandContext
  ) throws(CairnError) {
    guard unreferenced.count + orphans.count <= maxBlocksPerCommand else {
      throw .invalid("too many blocks in one command")
    }
    guard graceNanos >= 0 else { throw .invalid("garbage-collection grace must not be negative") }
    for address in unreferenced {
      guard var record = try context.blockRecord(address), record.referenceCount == 0, !record.isDeleting else {
        continue
      }
      if let since = record.unreferencedSinceNanos {
        guard timeNanos - since >= graceNanos else { continue }
        record.isBeingDeleted = true
      } else {
        record.unreferencedSinceNanos = timeNanos
      }
      context.batch.put(Keys.block(address), RecordCodec.encode(record))
    }
    for orphan in orphans {
      guard try context.blockRecord(orphan.address) == nil else { continue }
      let record = BlockRecord(
        length: orphan.length, referenceCount: 0, locations: orphan.servers.sorted(), unreferencedSinceNanos: timeNanos,
        isBeingDeleted: true)
      context.batch.put(Keys.block(orphan.address), RecordCodec.encode(record))
      context.batch.put(Keys.unreferenced(orphan.address), [])
    }
  }

  static func forget(_ addresses: [BlockAddress], in context: inout CommandContext) throws(CairnError) {
    guard addresses.count <= maxBlocksPerCommand else { throw .invalid("too many blocks in one command") }
    var forgotten = 0
    for address in addresses {
      guard let record = try context.blockRecord(address), record.isDeleting else { continue }
      precondition(record.referenceCount == 0, "a block fenced for deletion is never referenced")
      context.batch.delete(Keys.block(address))
      context.batch.delete(Keys.unreferenced(address))
      forgotten += 1
    }
    if forgotten > 0 { context.batch.put(Keys.garbageEpoch, Keys.u64(try context.garbageEpoch() + 1)) }
  }
}
