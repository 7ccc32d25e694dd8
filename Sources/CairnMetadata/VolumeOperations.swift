import CairnCore
import CairnKV

/// Volume-level commands: create, delete, rename, rollback and fork.
enum VolumeOperations {
  static let rootInode: UInt64 = 1

  static func create(_ name: VolumeName, settings: VolumeSettings, timeNanos: Int64, in context: inout CommandContext)
    throws(CairnError) -> VolumeInfo
  {
    try settings.validate()
    guard try context.volumeId(name) == nil else {
      throw CairnError(.alreadyExists, "volume '\(name)' already exists")
    }
    let id = try nextVolumeId(in: &context)
    let info = VolumeInfo(
      name: name, id: id, headVersion: 1, oldestVersion: 1, settings: settings, createdNanos: timeNanos,
      updatedNanos: timeNanos, fileCount: 0, totalBytes: 0)
    let root = Entry(kind: .directory, inode: rootInode, attributes: Attributes(mode: 0o040755, mtimeNanos: timeNanos))
    let rootName = Keys.entryName(id, .root)
    context.batch.put(Keys.entry(rootName, version: 1), RecordCodec.encode(StoredEntry.present(root)))
    context.batch.put(Keys.change(id, 1, rootName), Keys.u64(0))
    let version = VersionInfo(
      version: 1, parent: 0, author: "", timeNanos: timeNanos, message: "created", changedPaths: 1, fileCount: 0,
      totalBytes: 0)
    context.batch.put(Keys.version(id, 1), RecordCodec.encode(VersionRecord(info: version, idempotencyKey: "")))
    context.batch.put(
      Keys.volume(id), RecordCodec.encode(VolumeRecord(info: info, nextInode: rootInode + 1, prunedThrough: 0)))
    context.batch.put(Keys.volumeName(name), Keys.u64(id))
    return info
  }

  private static func nextVolumeId(in context: inout CommandContext) throws(CairnError) -> UInt64 {
    let id = try context.store.get(Keys.nextVolumeId).map { Keys.readU64($0) } ?? 1
    context.batch.put(Keys.nextVolumeId, Keys.u64(id + 1))
    return id
  }

  /// Deletes every record of the volume and releases its block references. O(records).
  static func delete(_ name: VolumeName, in context: inout CommandContext) throws(CairnError) {
    let volume = try context.volumeRecord(name)
    let id = volume.info.id
    for (key, value) in try context.store.scan(prefix: Keys.entryPrefix(id)) {
      context.reference(try RecordCodec.decode(StoredEntry.self, value).entry, by: -1)
      context.batch.delete(key)
    }
    for prefix in [Keys.changePrefix(id), Keys.versionPrefix(id), [Keys.idempotency] + Keys.u64(id)] {
      for (key, _) in try context.store.scan(prefix: prefix) { context.batch.delete(key) }
    }
    context.batch.delete(Keys.volume(id))
    context.batch.delete(Keys.volumeName(name))
    try context.finishBlocks()
  }

  static func rename(_ from: VolumeName, to: VolumeName, timeNanos: Int64, in context: inout CommandContext)
    throws(CairnError) -> VolumeInfo
  {
    var volume = try context.volumeRecord(from)
    guard try context.volumeId(to) == nil else { throw CairnError(.alreadyExists, "volume '\(to)' already exists") }
    volume.info.name = to
    volume.info.updatedNanos = timeNanos
    context.batch.delete(Keys.volumeName(from))
    context.batch.put(Keys.volumeName(to), Keys.u64(volume.info.id))
    context.batch.put(Keys.volume(volume.info.id), RecordCodec.encode(volume))
    return volume.info
  }

  /// A new version whose tree equals `version`'s. O(paths changed since `version`).
  static func rollback(
    _ name: VolumeName, to version: UInt64, author: String, timeNanos: Int64, in context: inout CommandContext
  ) throws(CairnError) -> CommitResult {
    let volume = try context.volumeRecord(name)
    try checkRetained(volume, version)
    let id = volume.info.id
    var editor = try TreeEditor(volume: volume, timeNanos: timeNanos, store: context.store)
    var seen = Set<Bytes>()
    if version < volume.info.headVersion {
      for v in (version + 1)...volume.info.headVersion {
        for (key, _) in try context.store.scan(prefix: Keys.changePrefix(id, v)) {
          let entryName = Array(key.dropFirst(17))
          guard seen.insert(entryName).inserted else { continue }
          let path = try Keys.path(fromEntryName: entryName)
          if let old = editor.tree.storedRecord(path, at: version)?.0.entry {
            editor.set(path, old)
          } else {
            editor.remove(path)
          }
        }
      }
    }
    let info = try editor.finish(
      author: author, message: "rollback to version \(version)", idempotencyKey: "", in: &context)
    try context.finishBlocks()
    return CommitResult(version: info.version, wasDuplicate: false)
  }

  /// A new volume whose version 1 equals `version` of `name`, sharing blocks. O(entries).
  static func fork(
    _ name: VolumeName, version: UInt64, newName: VolumeName, author: String, timeNanos: Int64,
    in context: inout CommandContext
  ) throws(CairnError) -> VolumeInfo {
    let source = try context.volumeRecord(name)
    try checkRetained(source, version)
    guard try context.volumeId(newName) == nil else {
      throw CairnError(.alreadyExists, "volume '\(newName)' already exists")
    }
    let id = try nextVolumeId(in: &context)
    let sourcePrefix = Keys.entryPrefix(source.info.id)
    var files: UInt64 = 0
    var bytes: UInt64 = 0
    let cursor = try context.store.makeCursor()
    cursor.seek(sourcePrefix)
    while cursor.isValid, cursor.key.starts(with: sourcePrefix) {
      let entryName = Keys.splitEntryKey(cursor.key).name
      cursor.seek(Keys.entry(entryName, version: version))
      if cursor.isValid, cursor.key.count == entryName.count + 8, cursor.key.starts(with: entryName) {
        let record = try RecordCodec.decode(StoredEntry.self, cursor.value)
        if let entry = record.entry {
          let newName = Keys.entryPrefix(id) + entryName.dropFirst(9)
          context.batch.put(Keys.entry(newName, version: 1), RecordCodec.encode(record))
          context.batch.put(Keys.change(id, 1, newName), Keys.u64(0))
          context.reference(entry, by: 1)
          if entry.kind == .file {
            files += 1
            bytes += entry.size
          }
        }
      }
      cursor.seek(entryName + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    }
    var settings = source.info.settings
    settings.retainedVersions = source.info.settings.retainedVersions
    let info = VolumeInfo(
      name: newName, id: id, headVersion: 1, oldestVersion: 1, settings: settings, createdNanos: timeNanos,
      updatedNanos: timeNanos, fileCount: files, totalBytes: bytes)
    let versionInfo = VersionInfo(
      version: 1, parent: 0, author: author, timeNanos: timeNanos, message: "fork of \(name) version \(version)",
      changedPaths: 0, fileCount: files, totalBytes: bytes)
    context.batch.put(Keys.version(id, 1), RecordCodec.encode(VersionRecord(info: versionInfo, idempotencyKey: "")))
    context.batch.put(
      Keys.volume(id), RecordCodec.encode(VolumeRecord(info: info, nextInode: source.nextInode, prunedThrough: 0)))
    context.batch.put(Keys.volumeName(newName), Keys.u64(id))
    try context.finishBlocks()
    return info
  }

  static func checkRetained(_ volume: VolumeRecord, _ version: UInt64) throws(CairnError) {
    guard version >= volume.info.oldestVersion, version <= volume.info.headVersion else {
      throw .notFound(
        "version \(version) of volume '\(volume.info.name)' does not exist (retained versions are \(volume.info.oldestVersion)…\(volume.info.headVersion))"
      )
    }
  }
}
