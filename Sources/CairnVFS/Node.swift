import CairnCore
import Foundation

/// File type bits of `Attributes.mode`.
enum FileType {
  static let mask: UInt32 = 0o170000
  static let regular: UInt32 = 0o100000
  static let directory: UInt32 = 0o040000
  static let symlink: UInt32 = 0o120000

  static func bits(_ kind: EntryKind) -> UInt32 {
    switch kind {
    case .file: return regular
    case .directory: return directory
    case .symlink: return symlink
    }
  }
}

/// What `stat` reports for one node.
public struct NodeAttributes: Sendable, Equatable {
  public var inode: UInt64
  public var kind: EntryKind
  /// Full `st_mode`, type bits included.
  public var mode: UInt32
  public var uid: UInt32
  public var gid: UInt32
  public var sizeBytes: UInt64
  public var mtimeNanos: Int64
  public var ctimeNanos: Int64
  public var linkCount: UInt32
}

/// One file, directory or symlink of a mounted tree. Directories load their children from the
/// pinned version on first use; `path` is kept current through renames of loaded ancestors.
final class Node {
  let id: UInt64
  let kind: EntryKind
  var attributes: Attributes
  var path: VolumePath
  weak var parent: Node?
  /// Children by name; nil until loaded from `listingSource`.
  var children: [String: Node]?
  /// Where this directory's children live in the pinned version (nil when created locally).
  var listingSource: VolumePath?
  /// The version `listingSource` is read at.
  let version: UInt64
  /// The tree generation this node belongs to (bumped by every reload/rebase).
  let generation: UInt64
  /// A file's content in the pinned version.
  var base: Manifest
  /// Local changes to a file's content, if any.
  var staged: StagedFile?
  var symlinkTarget: String
  /// The volume's inode number, when the node came from a version.
  var entryInode: UInt64?
  var isUnlinked = false

  init(
    id: UInt64, kind: EntryKind, attributes: Attributes, path: VolumePath, version: UInt64, generation: UInt64,
    base: Manifest = Manifest(), symlinkTarget: String = ""
  ) {
    self.id = id
    self.kind = kind
    self.attributes = attributes
    self.path = path
    self.version = version
    self.generation = generation
    self.base = base
    self.symlinkTarget = symlinkTarget
  }

  var sizeBytes: UInt64 {
    switch kind {
    case .file: return staged?.sizeBytes ?? base.size
    case .symlink: return UInt64(symlinkTarget.utf8.count)
    case .directory: return 0
    }
  }

  var currentAttributes: Attributes { staged?.attributes ?? attributes }

  func stat() -> NodeAttributes {
    let a = currentAttributes
    return NodeAttributes(
      inode: id, kind: kind, mode: (a.mode & 0o7777) | FileType.bits(kind), uid: a.uid, gid: a.gid,
      sizeBytes: sizeBytes, mtimeNanos: a.mtimeNanos, ctimeNanos: a.ctimeNanos, linkCount: 1)
  }

  /// Updates the stored paths of this node and its loaded descendants after a rename.
  func move(to newPath: VolumePath) {
    path = newPath
    guard let children else { return }
    for (name, child) in children {
      if let p = try? newPath.appending(name) { child.move(to: p) }
    }
  }
}

/// Local content of a file being written: a sparse staging file under the cache directory holding
/// the blocks that were written (or copied in before a partial write); every other block is still
/// the pinned version's block. Only touched blocks are ever rewritten.
final class StagedFile: @unchecked Sendable {
  let stagingId: UInt64
  let fd: Int32
  let path: String
  let blockBytes: Int
  /// Serializes writes, block materialization and truncation of this file.
  let ioLock = NSLock()
  // The fields below are guarded by the file system's state lock.
  var sizeBytes: UInt64
  var base: Manifest
  var localBlocks: Set<Int>
  var attributes: Attributes
  /// Set when the file was unlinked: its content will never be committed.
  var isDead = false

  init(stagingId: UInt64, fd: Int32, path: String, blockBytes: Int, sizeBytes: UInt64, base: Manifest, attributes: Attributes) {
    self.stagingId = stagingId
    self.fd = fd
    self.path = path
    self.blockBytes = blockBytes
    self.sizeBytes = sizeBytes
    self.base = base
    self.localBlocks = []
    self.attributes = attributes
  }

  /// True when block `index` is read from the staging file rather than the pinned version.
  func isLocal(_ index: Int) -> Bool { index >= base.blocks.count || localBlocks.contains(index) }

  deinit { close(fd) }
}
