import CairnCore
import CairnKV

/// Builds the next version of one volume: collects the tree writes of a command through
/// `TreeState`, then emits entry records, change records, the version record, the updated volume
/// record, block reference changes and retention pruning into the command's batch.
struct TreeEditor {
  var tree: TreeState
  var volume: VolumeRecord
  let newVersion: UInt64
  let timeNanos: Int64

  init(volume: VolumeRecord, timeNanos: Int64, store: any KVStore) throws(CairnError) {
    self.volume = volume
    newVersion = volume.info.headVersion + 1
    self.timeNanos = timeNanos
    tree = try TreeState(store: store, volumeId: volume.info.id, version: volume.info.headVersion)
  }

  func lookup(_ path: VolumePath) -> Entry? { tree.lookup(path) }

  mutating func allocateInode() -> UInt64 {
    defer { volume.nextInode += 1 }
    return volume.nextInode
  }

  mutating func set(_ path: VolumePath, _ entry: Entry) { tree.write(path, .present(entry)) }
  mutating func remove(_ path: VolumePath) { tree.write(path, .tombstone) }

  /// Makes sure `dir` and its ancestors exist as directories, creating missing ones.
  mutating func ensureDirectory(_ dir: VolumePath) throws(CairnError) {
    if dir.isRoot { return }
    if let existing = lookup(dir) {
      guard existing.kind == .directory else { throw CairnError(.notADirectory, "'\(dir)' is not a directory") }
      return
    }
    try ensureDirectory(dir.parent)
    let attributes = Attributes(mode: 0o040755, mtimeNanos: timeNanos)
    set(dir, Entry(kind: .directory, inode: allocateInode(), attributes: attributes))
  }

  /// Removes `path` and, for a directory, everything below it.
  mutating func removeTree(_ path: VolumePath) throws(CairnError) {
    guard let entry = lookup(path) else { return }
    if entry.kind == .directory {
      for child in try tree.children(path) { try removeTree(try path.appending(child.name)) }
    }
    if !path.isRoot { remove(path) }
  }

  /// Copies the tree at `from` to `to` (which must be absent), keeping or renewing inode numbers.
  mutating func copyTree(_ from: VolumePath, to: VolumePath, keepInodes: Bool) throws(CairnError) {
    guard var entry = lookup(from) else { throw .notFound("'\(from)' not found") }
    if !keepInodes { entry.inode = allocateInode() }
    entry.attributes.ctimeNanos = timeNanos
    set(to, entry)
    if entry.kind == .directory {
      for child in try tree.children(from) {
        try copyTree(try from.appending(child.name), to: try to.appending(child.name), keepInodes: keepInodes)
      }
    }
  }

  /// Emits everything into `context.batch` and returns the new version's record.
  mutating func finish(
    author: String, message: String, idempotencyKey: String, in context: inout CommandContext
  ) throws(CairnError) -> VersionInfo {
    let id = volume.info.id
    let head = volume.info.headVersion
    var changed: UInt64 = 0
    var files = Int64(volume.info.fileCount)
    var bytes = Int64(volume.info.totalBytes)
    for path in tree.writeOrder {
      guard let newRecord = tree.pending[path] else { continue }
      let previous = tree.storedRecord(path, at: head)
      let old = previous?.0.entry
      let new = newRecord.entry
      if old == new { continue }
      if old == nil && new == nil { continue }
      if let old, old.kind == .file {
        files -= 1
        bytes -= Int64(old.size)
      }
      if let new, new.kind == .file {
        files += 1
        bytes += Int64(new.size)
        try validate(new.manifest, path: path)
      }
      let name = Keys.entryName(id, path)
      context.batch.put(Keys.entry(name, version: newVersion), RecordCodec.encode(newRecord))
      // The newest record of `path` is the one visible at the head: no record is ever newer than
      // its volume's head (a version's records are written with the head that names it), so the
      // head's lookup above serves (checked in debug builds).
      let superseded = previous?.1 ?? 0
      assert(superseded == tree.latestRecordVersion(path) ?? 0, "a record of \(path) is newer than the head")
      context.batch.put(Keys.change(id, newVersion, name), Keys.u64(superseded))
      context.reference(new, by: 1)
      changed += 1
    }
    precondition(files >= 0 && bytes >= 0, "volume totals went negative")
    let info = VersionInfo(
      version: newVersion, parent: head, author: author, timeNanos: timeNanos, message: message,
      changedPaths: changed, fileCount: UInt64(files), totalBytes: UInt64(bytes))
    context.batch.put(
      Keys.version(id, newVersion), RecordCodec.encode(VersionRecord(info: info, idempotencyKey: idempotencyKey)))
    if !idempotencyKey.isEmpty { context.batch.put(Keys.idempotency(id, idempotencyKey), Keys.u64(newVersion)) }
    volume.info.headVersion = newVersion
    volume.info.updatedNanos = timeNanos
    volume.info.fileCount = info.fileCount
    volume.info.totalBytes = info.totalBytes
    try Retention.prune(&volume, in: &context)
    context.batch.put(Keys.volume(id), RecordCodec.encode(volume))
    return info
  }

  /// Every block but the last has the volume's block size; the last is not empty.
  private func validate(_ manifest: Manifest, path: VolumePath) throws(CairnError) {
    let blockBytes = volume.info.settings.blockBytes
    guard manifest.blocks.count <= Limits.maxBlocksPerManifest else {
      throw .invalid("'\(path)' has more than \(Limits.maxBlocksPerManifest) blocks")
    }
    for (i, block) in manifest.blocks.enumerated() {
      let isLast = i == manifest.blocks.count - 1
      guard isLast ? (block.length > 0 && block.length <= blockBytes) : block.length == blockBytes else {
        throw .invalid(
          "manifest of '\(path)': block \(i) has length \(block.length); blocks must be \(blockBytes) bytes except a non-empty last one"
        )
      }
    }
  }
}
