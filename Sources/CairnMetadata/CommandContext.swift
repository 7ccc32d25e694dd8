import CairnCore
import CairnKV

/// The mutable state of applying one command: the batch being built, tree views per volume,
/// block reference changes and volume record updates. Turned into one atomic `WriteBatch`.
struct CommandContext {
  let store: any KVStore
  var batch = WriteBatch()
  /// Reference-count deltas per block, applied when the batch is finished.
  var referenceDeltas: [BlockAddress: Int64] = [:]
  /// Blocks whose record must exist before they may be referenced (length, known locations).
  var placements: [BlockAddress: BlockPlacement] = [:]
  /// The command's time, when it carries one: stamps blocks whose reference count reaches zero.
  var timeNanos: Int64?

  init(store: any KVStore) { self.store = store }

  func volumeId(_ name: VolumeName) throws(CairnError) -> UInt64? {
    guard let raw = try store.get(Keys.volumeName(name)) else { return nil }
    return Keys.readU64(raw)
  }

  func volumeRecord(_ name: VolumeName) throws(CairnError) -> VolumeRecord {
    guard let id = try volumeId(name), let raw = try store.get(Keys.volume(id)) else {
      throw .notFound("volume '\(name)' not found")
    }
    return try RecordCodec.decode(VolumeRecord.self, raw)
  }

  func blockRecord(_ address: BlockAddress) throws(CairnError) -> BlockRecord? {
    guard let raw = try store.get(Keys.block(address)) else { return nil }
    return try RecordCodec.decode(BlockRecord.self, raw)
  }

  /// Counts one more (or one fewer) reference from a tree record to each distinct block of `entry`.
  mutating func reference(_ entry: Entry?, by delta: Int64) {
    guard let entry, entry.kind == .file else { return }
    for address in entry.manifest.addresses { referenceDeltas[address, default: 0] += delta }
  }

  /// Writes the block records changed by this command. Throws `.missingBlocks` listing every
  /// newly referenced block that is neither already known nor placed by the command, or that is
  /// being garbage-collected or was checked before the latest collection (`isGarbageRefusal`:
  /// the leader checks again, and the client uploads again).
  mutating func finishBlocks() throws(CairnError) {
    var missing: [String] = []
    var fenced: [String] = []
    let epoch = try garbageEpoch()
    for address in referenceDeltas.keys.sorted() {
      guard let delta = referenceDeltas[address], delta != 0 else { continue }
      var record = try blockRecord(address)
      if let existing = record, existing.isDeleting {
        if delta > 0 { fenced.append(address.hex) }
        continue
      }
      if record == nil, let placed = placements[address] {
        guard (placed.garbageEpoch ?? 0) == epoch else {
          if delta > 0 { fenced.append(address.hex) }
          continue
        }
        record = BlockRecord(
          length: placed.length, referenceCount: 0, locations: placed.servers.sorted(), replicas: placed.replicas)
      }
      guard var record else {
        if delta > 0 { missing.append(address.hex) }
        continue
      }
      let wasUnreferenced = record.referenceCount == 0
      let count = Int64(record.referenceCount) + delta
      precondition(count >= 0, "block \(address) reference count would go negative")
      record.referenceCount = UInt64(count)
      if count == 0 {
        record.unreferencedSinceNanos = timeNanos
        batch.put(Keys.unreferenced(address), [])
      } else if wasUnreferenced {
        record.unreferencedSinceNanos = nil
        batch.delete(Keys.unreferenced(address))
      }
      batch.put(Keys.block(address), RecordCodec.encode(record))
    }
    if !missing.isEmpty {
      throw CairnError(
        .missingBlocks, "\(missing.count) referenced block(s) are not durable on the chunk servers", details: missing)
    }
    if !fenced.isEmpty {
      throw CairnError(.missingBlocks, Self.garbageRefusal(fenced.count), details: fenced)
    }
  }

  static func garbageRefusal(_ count: Int) -> String {
    "\(count) referenced block(s) are being garbage-collected or were checked before the latest collection; upload them again"
  }

  /// The current garbage-collection epoch (0 before the first collection).
  func garbageEpoch() throws(CairnError) -> UInt64 {
    try store.get(Keys.garbageEpoch).map { Keys.readU64($0) } ?? 0
  }
}
