/// The kind of a tree entry.
public enum EntryKind: UInt8, Sendable, Codable {
  case file = 1
  case directory = 2
  case symlink = 3
}

/// POSIX attributes kept for every entry. Times are nanoseconds since the Unix epoch.
public struct Attributes: Hashable, Sendable, Codable {
  public var mode: UInt32
  public var uid: UInt32
  public var gid: UInt32
  public var mtimeNanos: Int64
  public var ctimeNanos: Int64

  public init(mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0, mtimeNanos: Int64, ctimeNanos: Int64? = nil) {
    self.mode = mode
    self.uid = uid
    self.gid = gid
    self.mtimeNanos = mtimeNanos
    self.ctimeNanos = ctimeNanos ?? mtimeNanos
  }
}

/// One block of a file: its address and its uncompressed length. A hole (all-zero block) has no
/// address and is stored nowhere.
public struct BlockRef: Hashable, Sendable, Codable {
  public var address: BlockAddress?
  public var length: UInt32

  public init(address: BlockAddress?, length: UInt32) {
    self.address = address
    self.length = length
  }

  public var isHole: Bool { address == nil }
}

/// The content of a regular file: an ordered list of blocks. The file size is the sum of their
/// lengths; every block but the last has the volume's block size.
public struct Manifest: Hashable, Sendable, Codable {
  public var blocks: [BlockRef]

  public init(blocks: [BlockRef] = []) { self.blocks = blocks }

  public var size: UInt64 { blocks.reduce(0) { $0 + UInt64($1.length) } }

  /// The distinct addresses this manifest references (holes excluded).
  public var addresses: Set<BlockAddress> { Set(blocks.compactMap(\.address)) }
}

/// The stored form of one entry of a version's tree.
public struct Entry: Hashable, Sendable, Codable {
  public var kind: EntryKind
  /// Stable inode number: unchanged across versions for unchanged or renamed files.
  public var inode: UInt64
  public var attributes: Attributes
  /// Content of a regular file; empty for other kinds.
  public var manifest: Manifest
  /// Target of a symlink; empty for other kinds.
  public var symlinkTarget: String

  public init(kind: EntryKind, inode: UInt64, attributes: Attributes, manifest: Manifest = Manifest(), symlinkTarget: String = "") {
    self.kind = kind
    self.inode = inode
    self.attributes = attributes
    self.manifest = manifest
    self.symlinkTarget = symlinkTarget
  }

  public var size: UInt64 {
    switch kind {
    case .file: return manifest.size
    case .symlink: return UInt64(symlinkTarget.utf8.count)
    case .directory: return 0
    }
  }
}

/// A named entry as returned by a listing or lookup.
public struct DirectoryEntry: Hashable, Sendable, Codable {
  public var path: VolumePath
  public var entry: Entry
  /// The version in which this entry was last written.
  public var modifiedInVersion: UInt64

  public init(path: VolumePath, entry: Entry, modifiedInVersion: UInt64) {
    self.path = path
    self.entry = entry
    self.modifiedInVersion = modifiedInVersion
  }
}

/// How a commit treats concurrent changes.
public enum CommitMode: UInt8, Sendable, Codable {
  /// Per-path last-writer-wins on top of the current head.
  case merge = 1
  /// Compare-and-set: refused with the conflicting paths if any changed path was modified after
  /// the commit's base version.
  case strict = 2
}

/// Per-volume settings, fixed at creation except where noted.
public struct VolumeSettings: Hashable, Sendable, Codable {
  public var blockBytes: UInt32
  public var replicationFactor: UInt8
  public var defaultCommitMode: CommitMode
  /// How many versions to keep (the head always counts). Changeable.
  public var retainedVersions: UInt32

  public init(
    blockBytes: UInt32 = UInt32(Limits.defaultBlockBytes), replicationFactor: UInt8 = 3,
    defaultCommitMode: CommitMode = .merge, retainedVersions: UInt32 = UInt32(Limits.defaultRetainedVersions)
  ) {
    self.blockBytes = blockBytes
    self.replicationFactor = replicationFactor
    self.defaultCommitMode = defaultCommitMode
    self.retainedVersions = retainedVersions
  }

  /// Checks every field against its bound.
  public func validate() throws(CairnError) {
    guard Int(blockBytes) >= Limits.minBlockBytes, Int(blockBytes) <= Limits.maxBlockBytes,
      blockBytes & (blockBytes - 1) == 0
    else {
      throw .invalid(
        "block size \(blockBytes) must be a power of two between \(Limits.minBlockBytes) and \(Limits.maxBlockBytes) bytes")
    }
    guard (1...7).contains(replicationFactor) else {
      throw .invalid("replication factor \(replicationFactor) must be between 1 and 7")
    }
    guard retainedVersions >= 1 else { throw .invalid("retained versions must be at least 1") }
  }
}

/// A volume as the metadata service describes it.
public struct VolumeInfo: Hashable, Sendable, Codable {
  public var name: VolumeName
  public var id: UInt64
  public var headVersion: UInt64
  /// Oldest version still readable (older ones were pruned by retention).
  public var oldestVersion: UInt64
  public var settings: VolumeSettings
  public var createdNanos: Int64
  public var updatedNanos: Int64
  public var fileCount: UInt64
  public var totalBytes: UInt64

  public init(
    name: VolumeName, id: UInt64, headVersion: UInt64, oldestVersion: UInt64, settings: VolumeSettings,
    createdNanos: Int64, updatedNanos: Int64, fileCount: UInt64, totalBytes: UInt64
  ) {
    self.name = name
    self.id = id
    self.headVersion = headVersion
    self.oldestVersion = oldestVersion
    self.settings = settings
    self.createdNanos = createdNanos
    self.updatedNanos = updatedNanos
    self.fileCount = fileCount
    self.totalBytes = totalBytes
  }
}

/// One immutable version of a volume.
public struct VersionInfo: Hashable, Sendable, Codable {
  public var version: UInt64
  public var parent: UInt64
  public var author: String
  public var timeNanos: Int64
  public var message: String
  public var changedPaths: UInt64
  public var fileCount: UInt64
  public var totalBytes: UInt64

  public init(
    version: UInt64, parent: UInt64, author: String, timeNanos: Int64, message: String, changedPaths: UInt64,
    fileCount: UInt64, totalBytes: UInt64
  ) {
    self.version = version
    self.parent = parent
    self.author = author
    self.timeNanos = timeNanos
    self.message = message
    self.changedPaths = changedPaths
    self.fileCount = fileCount
    self.totalBytes = totalBytes
  }
}

/// The content written by a `put` change.
public enum NewEntry: Hashable, Sendable, Codable {
  case file(Manifest, Attributes)
  case directory(Attributes)
  case symlink(target: String, Attributes)
}

/// One change in a commit. Parent directories of a `put` are created as needed.
public enum Change: Hashable, Sendable, Codable {
  /// Writes the entry at the path, replacing a file or symlink there (not a directory:
  /// a directory replaced by a directory keeps its children and takes the new attributes).
  case put(VolumePath, NewEntry)
  /// Removes the path; a non-empty directory needs `recursive`.
  case delete(VolumePath, recursive: Bool)
  /// Moves a file or a whole directory tree, keeping inode numbers.
  case rename(from: VolumePath, to: VolumePath, replace: Bool)
  /// Copies a file or a whole tree, sharing blocks.
  case copy(from: VolumePath, to: VolumePath, replace: Bool)

  /// The path this change writes.
  public var target: VolumePath {
    switch self {
    case .put(let p, _), .delete(let p, _): return p
    case .rename(_, let to, _), .copy(_, let to, _): return to
    }
  }
}

/// A request to publish changes as the next version of a volume.
public struct CommitRequest: Hashable, Sendable, Codable {
  public var volume: VolumeName
  public var baseVersion: UInt64
  public var changes: [Change]
  public var mode: CommitMode
  /// Makes a retried commit apply once; empty means "no idempotency".
  public var idempotencyKey: String
  public var author: String
  public var message: String

  public init(
    volume: VolumeName, baseVersion: UInt64, changes: [Change], mode: CommitMode, idempotencyKey: String,
    author: String, message: String
  ) {
    self.volume = volume
    self.baseVersion = baseVersion
    self.changes = changes
    self.mode = mode
    self.idempotencyKey = idempotencyKey
    self.author = author
    self.message = message
  }
}

/// What a successful commit produced.
public struct CommitResult: Hashable, Sendable, Codable {
  public var version: UInt64
  /// True when this answer repeats an earlier commit with the same idempotency key.
  public var wasDuplicate: Bool

  public init(version: UInt64, wasDuplicate: Bool) {
    self.version = version
    self.wasDuplicate = wasDuplicate
  }
}

/// One path that differs between two versions.
public struct DiffEntry: Hashable, Sendable, Codable {
  public enum Kind: UInt8, Sendable, Codable { case added = 1, removed, modified }
  public var path: VolumePath
  public var kind: Kind
  public var oldSize: UInt64
  public var newSize: UInt64

  public init(path: VolumePath, kind: Kind, oldSize: UInt64, newSize: UInt64) {
    self.path = path
    self.kind = kind
    self.oldSize = oldSize
    self.newSize = newSize
  }
}
