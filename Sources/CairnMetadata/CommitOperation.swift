import CairnCore
import CairnKV

/// Applies a `CommitRequest`: merge (per-path last-writer-wins on the head) or strict
/// (compare-and-set against the base version), with idempotency keys. Cost O(changed paths).
enum CommitOperation {
  static func apply(_ request: CommitRequest, timeNanos: Int64, in context: inout CommandContext) throws(CairnError)
    -> CommitResult
  {
    guard request.changes.count <= Limits.maxChangesPerCommit else {
      throw .invalid("commit has \(request.changes.count) changes; the limit is \(Limits.maxChangesPerCommit)")
    }
    guard request.idempotencyKey.utf8.count <= Limits.maxIdempotencyKeyBytes else {
      throw .invalid("idempotency key is longer than \(Limits.maxIdempotencyKeyBytes) bytes")
    }
    guard request.message.utf8.count <= Limits.maxMessageBytes else {
      throw .invalid("commit message is longer than \(Limits.maxMessageBytes) bytes")
    }
    let volume = try context.volumeRecord(request.volume)
    if !request.idempotencyKey.isEmpty,
      let raw = try context.store.get(Keys.idempotency(volume.info.id, request.idempotencyKey))
    {
      return CommitResult(version: Keys.readU64(raw), wasDuplicate: true)
    }
    guard request.baseVersion <= volume.info.headVersion else {
      throw .invalid(
        "base version \(request.baseVersion) is newer than the head (\(volume.info.headVersion)) of volume '\(request.volume)'")
    }
    var editor = try TreeEditor(volume: volume, timeNanos: timeNanos, store: context.store)
    if request.mode == .strict {
      var conflicts: [String] = []
      for change in request.changes {
        var paths = [change.target]
        if case .rename(let from, _, _) = change { paths.append(from) }
        for path in paths where (editor.tree.latestRecordVersion(path) ?? 0) > request.baseVersion {
          conflicts.append(path.rawValue)
        }
      }
      if !conflicts.isEmpty {
        throw CairnError(
          .conflict,
          "strict commit on version \(request.baseVersion) of '\(request.volume)' conflicts with changes made since (head is \(volume.info.headVersion))",
          details: Array(Set(conflicts)).sorted())
      }
    }
    for change in request.changes { try apply(change, to: &editor) }
    let info = try editor.finish(
      author: request.author, message: request.message, idempotencyKey: request.idempotencyKey, in: &context)
    try context.finishBlocks()
    return CommitResult(version: info.version, wasDuplicate: false)
  }

  static func apply(_ change: Change, to editor: inout TreeEditor) throws(CairnError) {
    switch change {
    case .put(let path, let new):
      try put(path, new, to: &editor)
    case .delete(let path, let recursive):
      guard let existing = editor.lookup(path) else { return }  // already gone: last writer wins
      if existing.kind == .directory, !recursive, !(try editor.tree.children(path)).isEmpty {
        throw CairnError(.directoryNotEmpty, "directory '\(path)' is not empty (delete it recursively)")
      }
      if path.isRoot && !recursive { throw .invalid("the root directory cannot be deleted") }
      try editor.removeTree(path)
    case .rename(let from, let to, let replace):
      try move(from, to: to, replace: replace, keepSource: false, to: &editor)
    case .copy(let from, let to, let replace):
      try move(from, to: to, replace: replace, keepSource: true, to: &editor)
    }
  }

  private static func put(_ path: VolumePath, _ new: NewEntry, to editor: inout TreeEditor) throws(CairnError) {
    let existing = editor.lookup(path)
    switch new {
    case .directory(let attributes):
      if let existing {
        guard existing.kind == .directory else {
          throw CairnError(.notADirectory, "cannot create directory '\(path)': a \(existing.kind) exists there")
        }
        var updated = existing
        updated.attributes = attributes
        editor.set(path, updated)
        return
      }
      guard !path.isRoot else { return }
      try editor.ensureDirectory(path.parent)
      editor.set(path, Entry(kind: .directory, inode: editor.allocateInode(), attributes: attributes))
    case .file(let manifest, let attributes):
      guard !path.isRoot else { throw CairnError(.isADirectory, "cannot write a file at the root") }
      if let existing, existing.kind == .directory {
        throw CairnError(.isADirectory, "cannot write file '\(path)': a directory exists there")
      }
      try editor.ensureDirectory(path.parent)
      let inode = existing?.inode ?? editor.allocateInode()
      editor.set(path, Entry(kind: .file, inode: inode, attributes: attributes, manifest: manifest))
    case .symlink(let target, let attributes):
      guard !path.isRoot else { throw CairnError(.isADirectory, "cannot write a symlink at the root") }
      guard !target.isEmpty, target.utf8.count <= Limits.maxSymlinkTargetBytes, !target.utf8.contains(0) else {
        throw .invalid("symlink target of '\(path)' must be 1 to \(Limits.maxSymlinkTargetBytes) bytes without NUL")
      }
      if let existing, existing.kind == .directory {
        throw CairnError(.isADirectory, "cannot write symlink '\(path)': a directory exists there")
      }
      try editor.ensureDirectory(path.parent)
      let inode = existing?.inode ?? editor.allocateInode()
      editor.set(path, Entry(kind: .symlink, inode: inode, attributes: attributes, symlinkTarget: target))
    }
  }

  private static func move(
    _ from: VolumePath, to: VolumePath, replace: Bool, keepSource: Bool, to editor: inout TreeEditor
  ) throws(CairnError) {
    let verb = keepSource ? "copy" : "rename"
    guard let source = editor.lookup(from) else { throw .notFound("cannot \(verb) '\(from)': not found") }
    guard !from.isRoot else { throw .invalid("cannot \(verb) the root directory") }
    if from == to { return }
    guard !to.isWithin(from) else { throw .invalid("cannot \(verb) '\(from)' into itself ('\(to)')") }
    if let target = editor.lookup(to) {
      guard replace else { throw CairnError(.alreadyExists, "cannot \(verb) to '\(to)': it exists") }
      if target.kind == .directory {
        guard source.kind == .directory else {
          throw CairnError(.isADirectory, "cannot \(verb) file '\(from)' over directory '\(to)'")
        }
        guard (try editor.tree.children(to)).isEmpty else {
          throw CairnError(.directoryNotEmpty, "cannot \(verb) over '\(to)': directory not empty")
        }
      } else if source.kind == .directory {
        throw CairnError(.notADirectory, "cannot \(verb) directory '\(from)' over non-directory '\(to)'")
      }
      try editor.removeTree(to)
    }
    try editor.ensureDirectory(to.parent)
    try editor.copyTree(from, to: to, keepInodes: !keepSource)
    if !keepSource { try editor.removeTree(from) }
  }
}
