/// `WireCodable` conformances of the model types a commit carries (see `WireCoding.swift` for the
/// format). Field order is the format: append new fields only behind a new marker or tag.

extension VolumeName: WireCodable {
  public func encode(to writer: inout WireWriter) { writer.string(rawValue) }

  public init(from reader: inout WireReader) throws(CairnError) {
    let text = try reader.string()
    do { try self.init(text) } catch { throw reader.fail(error.message) }
  }
}

extension VolumePath: WireCodable {
  public func encode(to writer: inout WireWriter) { writer.string(rawValue) }

  public init(from reader: inout WireReader) throws(CairnError) {
    let text = try reader.string()
    do { try self.init(text) } catch { throw reader.fail(error.message) }
    guard rawValue == text else { throw reader.fail("path '\(text.prefix(80))' is not normalized") }
  }
}

extension BlockAddress: WireCodable {
  /// The 32 digest bytes, without a length.
  public func encode(to writer: inout WireWriter) {
    for b in bytes { writer.byte(b) }
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    self.init(uncheckedDigest: try reader.fixed(32))
  }
}

extension EntryKind: WireCodable {
  public func encode(to writer: inout WireWriter) { writer.byte(rawValue) }

  public init(from reader: inout WireReader) throws(CairnError) {
    let tag = try reader.byte()
    guard let kind = EntryKind(rawValue: tag) else { throw reader.unknownTag(tag, of: "EntryKind") }
    self = kind
  }
}

extension CommitMode: WireCodable {
  public func encode(to writer: inout WireWriter) { writer.byte(rawValue) }

  public init(from reader: inout WireReader) throws(CairnError) {
    let tag = try reader.byte()
    guard let mode = CommitMode(rawValue: tag) else { throw reader.unknownTag(tag, of: "CommitMode") }
    self = mode
  }
}

extension Attributes: WireCodable {
  public func encode(to writer: inout WireWriter) {
    writer.varint(mode)
    writer.varint(uid)
    writer.varint(gid)
    writer.signed(mtimeNanos)
    writer.signed(ctimeNanos)
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    let mode = try reader.uint32()
    let uid = try reader.uint32()
    let gid = try reader.uint32()
    let mtime = try reader.signed()
    self.init(mode: mode, uid: uid, gid: gid, mtimeNanos: mtime, ctimeNanos: try reader.signed())
  }
}

extension BlockRef: WireCodable {
  public func encode(to writer: inout WireWriter) {
    writer.optional(address)
    writer.varint(length)
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    let address = try reader.optional(BlockAddress.self)
    self.init(address: address, length: try reader.uint32())
  }
}

extension Manifest: WireCodable {
  public func encode(to writer: inout WireWriter) { writer.array(blocks) }

  public init(from reader: inout WireReader) throws(CairnError) {
    self.init(blocks: try reader.array(BlockRef.self, limit: Limits.maxBlocksPerManifest))
  }
}

extension Entry: WireCodable {
  public func encode(to writer: inout WireWriter) {
    writer.value(kind)
    writer.varint(inode)
    writer.value(attributes)
    writer.value(manifest)
    writer.string(symlinkTarget)
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    let kind = try reader.value(EntryKind.self)
    let inode = try reader.varint()
    let attributes = try reader.value(Attributes.self)
    let manifest = try reader.value(Manifest.self)
    self.init(kind: kind, inode: inode, attributes: attributes, manifest: manifest, symlinkTarget: try reader.string())
  }
}

extension VolumeSettings: WireCodable {
  public func encode(to writer: inout WireWriter) {
    writer.varint(blockBytes)
    writer.byte(replicationFactor)
    writer.value(defaultCommitMode)
    writer.varint(retainedVersions)
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    let blockBytes = try reader.uint32()
    let replication = try reader.byte()
    let mode = try reader.value(CommitMode.self)
    self.init(
      blockBytes: blockBytes, replicationFactor: replication, defaultCommitMode: mode,
      retainedVersions: try reader.uint32())
  }
}

extension VolumeInfo: WireCodable {
  public func encode(to writer: inout WireWriter) {
    writer.value(name)
    writer.varint(id)
    writer.varint(headVersion)
    writer.varint(oldestVersion)
    writer.value(settings)
    writer.signed(createdNanos)
    writer.signed(updatedNanos)
    writer.varint(fileCount)
    writer.varint(totalBytes)
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    let name = try reader.value(VolumeName.self)
    let id = try reader.varint()
    let head = try reader.varint()
    let oldest = try reader.varint()
    let settings = try reader.value(VolumeSettings.self)
    let created = try reader.signed()
    let updated = try reader.signed()
    let files = try reader.varint()
    self.init(
      name: name, id: id, headVersion: head, oldestVersion: oldest, settings: settings, createdNanos: created,
      updatedNanos: updated, fileCount: files, totalBytes: try reader.varint())
  }
}

extension VersionInfo: WireCodable {
  public func encode(to writer: inout WireWriter) {
    writer.varint(version)
    writer.varint(parent)
    writer.string(author)
    writer.signed(timeNanos)
    writer.string(message)
    writer.varint(changedPaths)
    writer.varint(fileCount)
    writer.varint(totalBytes)
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    let version = try reader.varint()
    let parent = try reader.varint()
    let author = try reader.string()
    let time = try reader.signed()
    let message = try reader.string()
    let changed = try reader.varint()
    let files = try reader.varint()
    self.init(
      version: version, parent: parent, author: author, timeNanos: time, message: message, changedPaths: changed,
      fileCount: files, totalBytes: try reader.varint())
  }
}

extension NewEntry: WireCodable {
  public func encode(to writer: inout WireWriter) {
    switch self {
    case .file(let manifest, let attributes):
      writer.byte(1)
      writer.value(manifest)
      writer.value(attributes)
    case .directory(let attributes):
      writer.byte(2)
      writer.value(attributes)
    case .symlink(let target, let attributes):
      writer.byte(3)
      writer.string(target)
      writer.value(attributes)
    }
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    switch try reader.byte() {
    case 1:
      let manifest = try reader.value(Manifest.self)
      self = .file(manifest, try reader.value(Attributes.self))
    case 2: self = .directory(try reader.value(Attributes.self))
    case 3:
      let target = try reader.string()
      self = .symlink(target: target, try reader.value(Attributes.self))
    case let tag: throw reader.unknownTag(tag, of: "NewEntry")
    }
  }
}

extension Change: WireCodable {
  public func encode(to writer: inout WireWriter) {
    switch self {
    case .put(let path, let entry):
      writer.byte(1)
      writer.value(path)
      writer.value(entry)
    case .delete(let path, let recursive):
      writer.byte(2)
      writer.value(path)
      writer.bool(recursive)
    case .rename(let from, let to, let replace):
      writer.byte(3)
      writer.value(from)
      writer.value(to)
      writer.bool(replace)
    case .copy(let from, let to, let replace):
      writer.byte(4)
      writer.value(from)
      writer.value(to)
      writer.bool(replace)
    }
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    switch try reader.byte() {
    case 1:
      let path = try reader.value(VolumePath.self)
      self = .put(path, try reader.value(NewEntry.self))
    case 2:
      let path = try reader.value(VolumePath.self)
      self = .delete(path, recursive: try reader.bool())
    case 3:
      let from = try reader.value(VolumePath.self)
      let to = try reader.value(VolumePath.self)
      self = .rename(from: from, to: to, replace: try reader.bool())
    case 4:
      let from = try reader.value(VolumePath.self)
      let to = try reader.value(VolumePath.self)
      self = .copy(from: from, to: to, replace: try reader.bool())
    case let tag: throw reader.unknownTag(tag, of: "Change")
    }
  }
}

extension CommitRequest: WireCodable {
  public func encode(to writer: inout WireWriter) {
    writer.value(volume)
    writer.varint(baseVersion)
    writer.array(changes)
    writer.value(mode)
    writer.string(idempotencyKey)
    writer.string(author)
    writer.string(message)
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    let volume = try reader.value(VolumeName.self)
    let base = try reader.varint()
    // The commit itself refuses more than `Limits.maxChangesPerCommit` with a clear message.
    let changes = try reader.array(Change.self)
    let mode = try reader.value(CommitMode.self)
    let key = try reader.string()
    let author = try reader.string()
    self.init(
      volume: volume, baseVersion: base, changes: changes, mode: mode, idempotencyKey: key, author: author,
      message: try reader.string())
  }
}

extension CommitResult: WireCodable {
  public func encode(to writer: inout WireWriter) {
    writer.varint(version)
    writer.bool(wasDuplicate)
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    let version = try reader.varint()
    self.init(version: version, wasDuplicate: try reader.bool())
  }
}
