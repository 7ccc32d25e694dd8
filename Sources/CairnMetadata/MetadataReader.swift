import CairnCore
import CairnKV

/// Read-only queries over the metadata store. Any retained version is read at the same cost as the
/// head. Safe to call concurrently with `MetadataStateMachine.apply` (reads use store snapshots).
public struct MetadataReader: Sendable {
  public let store: any KVStore

  public init(store: any KVStore) { self.store = store }

  private var context: CommandContext { CommandContext(store: store) }

  public func volume(_ name: VolumeName) throws(CairnError) -> VolumeInfo { try context.volumeRecord(name).info }

  public func volumes() throws(CairnError) -> [VolumeInfo] {
    var out: [VolumeInfo] = []
    for (_, value) in try store.scan(prefix: [Keys.volume]) {
      out.append(try RecordCodec.decode(VolumeRecord.self, value).info)
    }
    return out.sorted { $0.name < $1.name }
  }

  /// Resolves `version` (nil = head) and checks it is retained.
  public func resolve(_ name: VolumeName, version: UInt64?) throws(CairnError) -> (VolumeInfo, UInt64) {
    let record = try context.volumeRecord(name)
    let v = version ?? record.info.headVersion
    try VolumeOperations.checkRetained(record, v)
    return (record.info, v)
  }

  /// The entry at `path` in `version` (nil = head).
  public func lookup(_ name: VolumeName, path: VolumePath, version: UInt64?) throws(CairnError) -> DirectoryEntry {
    let (info, v) = try resolve(name, version: version)
    let tree = try TreeState(store: store, volumeId: info.id, version: v)
    guard let (record, writtenAt) = tree.storedRecord(path, at: v), let entry = record.entry else {
      throw .notFound("'\(path)' not found in version \(v) of volume '\(name)'")
    }
    return DirectoryEntry(path: path, entry: entry, modifiedInVersion: writtenAt)
  }

  /// Up to `limit` children of directory `path` in `version`, sorted by name, after `after`.
  public func list(_ name: VolumeName, path: VolumePath, version: UInt64?, after: String?, limit: Int)
    throws(CairnError) -> (version: UInt64, entries: [DirectoryEntry])
  {
    let (info, v) = try resolve(name, version: version)
    let tree = try TreeState(store: store, volumeId: info.id, version: v)
    guard let (record, _) = tree.storedRecord(path, at: v), let dir = record.entry else {
      throw .notFound("'\(path)' not found in version \(v) of volume '\(name)'")
    }
    guard dir.kind == .directory else { throw CairnError(.notADirectory, "'\(path)' is not a directory") }
    let children = tree.storedChildren(path, at: v, after: after, limit: min(limit, Limits.maxListPageEntries))
    var out: [DirectoryEntry] = []
    for (childName, entry) in children {
      out.append(DirectoryEntry(path: try path.appending(childName), entry: entry, modifiedInVersion: 0))
    }
    return (v, out)
  }

  /// Versions newest first, at most `limit`.
  public func history(_ name: VolumeName, limit: Int) throws(CairnError) -> [VersionInfo] {
    let record = try context.volumeRecord(name)
    var out: [VersionInfo] = []
    let cursor = try store.makeCursor()
    cursor.seekForPrev(Keys.version(record.info.id, UInt64.max))
    let prefix = Keys.versionPrefix(record.info.id)
    while cursor.isValid, cursor.key.starts(with: prefix), out.count < limit {
      out.append(try RecordCodec.decode(VersionRecord.self, cursor.value).info)
      cursor.previous()
    }
    return out
  }

  /// Paths that differ between versions `from` and `to` (either order). O(paths changed between).
  public func diff(_ name: VolumeName, from: UInt64, to: UInt64) throws(CairnError) -> [DiffEntry] {
    let record = try context.volumeRecord(name)
    try VolumeOperations.checkRetained(record, from)
    try VolumeOperations.checkRetained(record, to)
    let (low, high) = (min(from, to), max(from, to))
    let id = record.info.id
    let tree = try TreeState(store: store, volumeId: id, version: high)
    var seen = Set<Bytes>()
    var out: [DiffEntry] = []
    if low < high {
      for v in (low + 1)...high {
        for (key, _) in try store.scan(prefix: Keys.changePrefix(id, v)) {
          let entryName = Array(key.dropFirst(17))
          guard seen.insert(entryName).inserted else { continue }
          let path = try Keys.path(fromEntryName: entryName)
          let a = tree.storedRecord(path, at: from)?.0.entry
          let b = tree.storedRecord(path, at: to)?.0.entry
          switch (a, b) {
          case (nil, nil): continue
          case (nil, let b?): out.append(DiffEntry(path: path, kind: .added, oldSize: 0, newSize: b.size))
          case (let a?, nil): out.append(DiffEntry(path: path, kind: .removed, oldSize: a.size, newSize: 0))
          case (let a?, let b?):
            if a != b { out.append(DiffEntry(path: path, kind: .modified, oldSize: a.size, newSize: b.size)) }
          }
        }
      }
    }
    return out.sorted { $0.path < $1.path }
  }

  /// For each address: is it durable on at least `quorum` known servers?
  public func blocksKnown(_ addresses: [BlockAddress], quorum: Int) throws(CairnError) -> [Bool] {
    var out: [Bool] = []
    for address in addresses {
      let record = try context.blockRecord(address)
      out.append(record.map { !$0.isDeleting && $0.locations.count >= quorum } ?? false)
    }
    return out
  }

  public func blockRecord(_ address: BlockAddress) throws(CairnError) -> BlockRecord? {
    try context.blockRecord(address)
  }

  public func chunkServers() throws(CairnError) -> [ChunkServerRecord] {
    var out: [ChunkServerRecord] = []
    for (_, value) in try store.scan(prefix: [Keys.chunkServer]) {
      out.append(try RecordCodec.decode(ChunkServerRecord.self, value))
    }
    return out
  }
}

/// Block records for repair and garbage collection, a page at a time.
extension MetadataReader {
  /// Up to `limit` block records with addresses after `after` (nil: from the first), in address order.
  public func blocks(after: BlockAddress?, limit: Int) throws(CairnError) -> [(BlockAddress, BlockRecord)] {
    try page([Keys.block], after: after, limit: limit) { address, value throws(CairnError) in
      (address, try RecordCodec.decode(BlockRecord.self, value))
    }
  }

  /// Up to `limit` blocks at reference count zero (including those being deleted), after `after`.
  public func unreferencedBlocks(after: BlockAddress?, limit: Int) throws(CairnError) -> [BlockAddress] {
    try page([Keys.unreferenced], after: after, limit: limit) { address, _ throws(CairnError) in address }
  }

  /// The garbage-collection epoch, bumped by every deletion that finished.
  public func garbageEpoch() throws(CairnError) -> UInt64 {
    try CommandContext(store: store).garbageEpoch()
  }

  private func page<T>(
    _ prefix: Bytes, after: BlockAddress?, limit: Int, _ make: (BlockAddress, Bytes) throws(CairnError) -> T
  ) throws(CairnError) -> [T] {
    let cursor = try store.makeCursor()
    cursor.seek(after.map { prefix + $0.bytes + [0] } ?? prefix)
    var out: [T] = []
    while cursor.isValid, cursor.key.starts(with: prefix), out.count < limit {
      let address = try BlockAddress(digest: Array(cursor.key.dropFirst(prefix.count)))
      out.append(try make(address, cursor.value))
      cursor.next()
    }
    return out
  }
}
