import CairnCore
import CairnKV

/// Drops versions past a volume's retention and the tree records no retained version can see.
/// A record superseded at version `s` is invisible from `s` on, so once the oldest retained version
/// reaches `s` it is deleted (and its block references released). Cost: O(changes in the pruned
/// versions), amortized O(1) per changed path.
enum Retention {
  static func prune(_ volume: inout VolumeRecord, in context: inout CommandContext) throws(CairnError) {
    let id = volume.info.id
    let head = volume.info.headVersion
    let keep = UInt64(volume.info.settings.retainedVersions)
    let oldest = volume.info.oldestVersion
    let newOldest = head >= keep ? max(oldest, head - keep + 1) : oldest
    // Records superseded by the version being written now are pruned by a later commit (they are
    // not in the store yet); everything older is pruned here.
    let pruneThrough = min(newOldest, head - 1)
    if pruneThrough > volume.prunedThrough {
      for s in (volume.prunedThrough + 1)...pruneThrough {
        for (key, value) in try context.store.scan(prefix: Keys.changePrefix(id, s)) {
          let name = Array(key.dropFirst(17))
          let superseded = Keys.readU64(value)
          if superseded != 0 {
            let oldKey = Keys.entry(name, version: superseded)
            if let raw = try context.store.get(oldKey) {
              context.reference(try RecordCodec.decode(StoredEntry.self, raw).entry, by: -1)
              context.batch.delete(oldKey)
            }
            let ownKey = Keys.entry(name, version: s)
            if let raw = try context.store.get(ownKey), try RecordCodec.decode(StoredEntry.self, raw) == .tombstone {
              context.batch.delete(ownKey)
            }
          }
          context.batch.delete(key)
        }
      }
      volume.prunedThrough = pruneThrough
    }
    guard newOldest > oldest else { return }
    for v in oldest..<newOldest {
      if let raw = try context.store.get(Keys.version(id, v)) {
        let record = try RecordCodec.decode(VersionRecord.self, raw)
        if !record.idempotencyKey.isEmpty { context.batch.delete(Keys.idempotency(id, record.idempotencyKey)) }
      }
      context.batch.delete(Keys.version(id, v))
    }
    volume.info.oldestVersion = newOldest
  }
}
