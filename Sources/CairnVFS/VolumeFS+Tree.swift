import CairnCore
import Foundation

/// Rename variants of renameat2(2).
public struct RenameFlags: OptionSet, Sendable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let noReplace = RenameFlags(rawValue: 1)
  public static let exchange = RenameFlags(rawValue: 2)
}

/// Who is asking (from the FUSE request context).
public struct Caller: Sendable {
  public var uid: UInt32
  public var gid: UInt32
  public init(uid: UInt32, gid: UInt32) {
    self.uid = uid
    self.gid = gid
  }
}

extension VolumeFS {
  // MARK: Applying staged ops (live, on recovery and on reload: one implementation)

  /// Applies `op` to the tree under `root`. Checks every precondition before changing anything,
  /// so a failed op leaves the tree as it was. Runs under the state lock.
  func apply(_ op: StagedOp, root: Node) throws {
    switch op {
    case .mkdir(let path, let attributes):
      let dir = try parentDirectory(of: path, root: root)
      guard try child(dir, path.name) == nil else { throw VFSError(.exists, "'\(path)' exists") }
      let node = Node(
        id: allocateId(), kind: .directory, attributes: attributes, path: path, version: root.version,
        generation: root.generation)
      node.children = [:]
      attach(node, to: dir, name: path.name)
    case .symlink(let path, let target, let attributes):
      let dir = try parentDirectory(of: path, root: root)
      guard try child(dir, path.name) == nil else { throw VFSError(.exists, "'\(path)' exists") }
      let node = Node(
        id: allocateId(), kind: .symlink, attributes: attributes, path: path, version: root.version,
        generation: root.generation, symlinkTarget: target)
      attach(node, to: dir, name: path.name)
    case .file(let path, let stagingId):
      guard let staged = stagedFiles[stagingId] else { throw VFSError(.io, "staged file \(stagingId) is missing") }
      let dir = try parentDirectory(of: path, root: root)
      if let existing = try child(dir, path.name) {
        guard existing.kind == .file else { throw VFSError(.isADirectory, "'\(path)' is a \(existing.kind)") }
        existing.staged = staged
        idByStagingId[stagingId] = existing.id
      } else {
        let id = idByStagingId[stagingId] ?? allocateId()
        idByStagingId[stagingId] = id
        let node = Node(
          id: id, kind: .file, attributes: staged.attributes, path: path, version: root.version,
          generation: root.generation, base: staged.base)
        node.staged = staged
        if lookups[id] != nil { nodes[id] = node }
        attach(node, to: dir, name: path.name)
      }
    case .directoryAttributes(let path, let attributes):
      guard let node = try resolve(path, from: root) else { throw VFSError(.notFound, "'\(path)' not found") }
      guard node.kind == .directory else { throw VFSError(.notADirectory, "'\(path)' is not a directory") }
      node.attributes = attributes
    case .delete(let path, let recursive):
      guard !path.isRoot else { throw VFSError(.notPermitted, "the root cannot be removed") }
      guard let node = try resolve(path, from: root), let dir = node.parent else {
        throw VFSError(.notFound, "'\(path)' not found")
      }
      if node.kind == .directory, !recursive {
        guard try isEmpty(node) else { throw VFSError(.notEmpty, "directory '\(path)' is not empty") }
      }
      detach(node, from: dir)
    case .rename(let from, let to, let replace):
      guard !from.isRoot, !to.isRoot else { throw VFSError(.busy, "the root cannot be renamed") }
      guard let source = try resolve(from, from: root), let sourceDir = source.parent else {
        throw VFSError(.notFound, "'\(from)' not found")
      }
      if from == to { return }
      guard !to.isWithin(from) else { throw VFSError(.invalid, "cannot move '\(from)' into itself") }
      let targetDir = try parentDirectory(of: to, root: root)
      if let target = try child(targetDir, to.name) {
        guard replace else { throw VFSError(.exists, "'\(to)' exists") }
        if target.kind == .directory {
          guard source.kind == .directory else { throw VFSError(.isADirectory, "'\(to)' is a directory") }
          guard try isEmpty(target) else { throw VFSError(.notEmpty, "directory '\(to)' is not empty") }
        } else if source.kind == .directory {
          throw VFSError(.notADirectory, "'\(to)' is not a directory")
        }
        detach(target, from: targetDir)
      }
      sourceDir.children?[source.path.name] = nil
      source.move(to: to)
      attach(source, to: targetDir, name: to.name)
    }
  }

  private func parentDirectory(of path: VolumePath, root: Node) throws -> Node {
    guard let dir = try resolve(path.parent, from: root) else { throw VFSError(.notFound, "'\(path.parent)' not found") }
    guard dir.kind == .directory else { throw VFSError(.notADirectory, "'\(path.parent)' is not a directory") }
    return dir
  }

  private func isEmpty(_ dir: Node) throws -> Bool {
    guard let children = dir.children else { throw NeedsListing(node: dir) }
    return children.isEmpty
  }

  private func attach(_ node: Node, to dir: Node, name: String) {
    node.parent = dir
    dir.children?[name] = node
    dir.attributes.mtimeNanos = Self.nowNanos()
  }

  private func detach(_ node: Node, from dir: Node) {
    dir.children?[node.path.name] = nil
    dir.attributes.mtimeNanos = Self.nowNanos()
    markUnlinked(node)
  }

  private func markUnlinked(_ node: Node) {
    node.isUnlinked = true
    node.parent = nil
    node.staged?.isDead = true
    for child in node.children?.values ?? [:].values { markUnlinked(child) }
  }

  /// Applies a new op to the current tree, then journals and records it. Caller holds the lock.
  func record(_ op: StagedOp, extra: [JournalRecord] = []) throws {
    try apply(op, root: root)
    try journal.append(extra + [.op(op)])
    ops.append(op)
  }

  /// Runs a mutation: read-only check, the commit gate held shared, the state lock with loads.
  func mutate<T>(_ body: () throws -> T) throws(VFSError) -> T {
    try checkWritable()
    gate.readLock()
    defer { gate.unlock() }
    return try locked(body)
  }

  // MARK: Namespace operations

  public func mkdir(parent: UInt64, name: String, mode: UInt32, caller: Caller) throws(VFSError) -> NodeAttributes {
    try Self.checkName(name)
    try refuseControlName(parent: parent, name: name)
    return try mutate {
      let dir = try current(try node(parent))
      let path = try childPath(dir, name)
      let now = Self.nowNanos()
      try record(.mkdir(path, Attributes(mode: (mode & 0o7777) | FileType.directory, uid: caller.uid, gid: caller.gid, mtimeNanos: now)))
      guard let created = try child(dir, name) else { throw VFSError(.io, "mkdir '\(path)' vanished") }
      remember(created)
      return created.stat()
    }
  }

  public func symlink(parent: UInt64, name: String, target: String, caller: Caller) throws(VFSError) -> NodeAttributes {
    try Self.checkName(name)
    try refuseControlName(parent: parent, name: name)
    guard !target.isEmpty, target.utf8.count <= Limits.maxSymlinkTargetBytes else {
      throw VFSError(.nameTooLong, "symlink target is empty or longer than \(Limits.maxSymlinkTargetBytes) bytes")
    }
    return try mutate {
      let dir = try current(try node(parent))
      let path = try childPath(dir, name)
      let attributes = Attributes(mode: 0o120777, uid: caller.uid, gid: caller.gid, mtimeNanos: Self.nowNanos())
      try record(.symlink(path, target: target, attributes))
      guard let created = try child(dir, name) else { throw VFSError(.io, "symlink '\(path)' vanished") }
      remember(created)
      return created.stat()
    }
  }

  public func unlink(parent: UInt64, name: String) throws(VFSError) {
    try refuseControlName(parent: parent, name: name)
    try mutate {
      let dir = try current(try node(parent))
      guard let target = try child(dir, name) else { throw VFSError(.notFound, "'\(dir.path)/\(name)' not found") }
      guard target.kind != .directory else { throw VFSError(.isADirectory, "'\(target.path)' is a directory") }
      try record(.delete(target.path, recursive: false))
    }
  }

  public func rmdir(parent: UInt64, name: String) throws(VFSError) {
    try refuseControlName(parent: parent, name: name)
    if name == "." { throw VFSError(.invalid, "cannot remove '.'") }
    if name == ".." { throw VFSError(.notEmpty, "cannot remove '..'") }
    try mutate {
      let dir = try current(try node(parent))
      guard let target = try child(dir, name) else { throw VFSError(.notFound, "'\(dir.path)/\(name)' not found") }
      guard target.kind == .directory else { throw VFSError(.notADirectory, "'\(target.path)' is not a directory") }
      try record(.delete(target.path, recursive: false))
    }
  }

  public func rename(parent: UInt64, name: String, newParent: UInt64, newName: String, flags: RenameFlags) throws(VFSError) {
    try Self.checkName(newName)
    try refuseControlName(parent: parent, name: name)
    try refuseControlName(parent: newParent, name: newName)
    if flags.contains(.exchange) { throw VFSError(.invalid, "RENAME_EXCHANGE is not supported") }
    guard flags.subtracting(.noReplace).isEmpty else { throw VFSError(.invalid, "unsupported rename flags \(flags.rawValue)") }
    try mutate {
      let dir = try current(try node(parent))
      let newDir = try current(try node(newParent))
      guard let source = try child(dir, name) else { throw VFSError(.notFound, "'\(dir.path)/\(name)' not found") }
      let to = try childPath(newDir, newName)
      if flags.contains(.noReplace), try child(newDir, newName) != nil { throw VFSError(.exists, "'\(to)' exists") }
      try record(.rename(from: source.path, to: to, replace: !flags.contains(.noReplace)))
    }
  }

  public func link(_ id: UInt64, newParent: UInt64, newName: String) throws(VFSError) -> NodeAttributes {
    throw VFSError(.notPermitted, "hard links are not supported by Cairn volumes")
  }

  func refuseControlName(parent: UInt64, name: String) throws(VFSError) {
    if parent == Self.controlDirectoryId || (parent == Self.rootId && name == Self.controlDirectoryName) {
      throw VFSError(.notPermitted, "'/\(Self.controlDirectoryName)' is reserved for mount control")
    }
  }

  // MARK: Directory handles

  /// One entry of a directory listing.
  public struct DirectoryItem: Sendable {
    public var name: String
    public var attributes: NodeAttributes
    /// Offset to resume after this entry.
    public var nextOffset: Int
  }

  public func opendir(_ id: UInt64) throws(VFSError) -> UInt64 {
    if id == Self.controlDirectoryId {
      return addHandle(Handle(directory: [("." , controlAttributes(id), nil), ("control", controlAttributes(Self.controlFileId), nil)]))
    }
    let items: [(String, NodeAttributes, Node?)] = try locked {
      let dir = try current(try node(id))
      guard dir.kind == .directory else { throw VFSError(.notADirectory, "'\(dir.path)' is not a directory") }
      guard let children = dir.children else { throw NeedsListing(node: dir) }
      var out: [(String, NodeAttributes, Node?)] = [(".", dir.stat(), nil), ("..", (dir.parent ?? dir).stat(), nil)]
      for (name, child) in children.sorted(by: { $0.key < $1.key }) { out.append((name, child.stat(), child)) }
      return out
    }
    return addHandle(Handle(directory: items))
  }

  /// Lists entries from `offset`, calling `accept` until it returns false (the reply is full).
  /// With `plus`, every accepted entry (but `.` and `..`) counts as a lookup.
  public func readdir(handle: UInt64, offset: Int, plus: Bool, accept: (DirectoryItem) -> Bool) throws(VFSError) {
    lock.lock()
    defer { lock.unlock() }
    guard let h = handles[handle], let items = h.directory else { throw VFSError(.badHandle, "bad directory handle") }
    var index = max(0, offset)
    while index < items.count {
      let (name, attributes, child) = items[index]
      guard accept(DirectoryItem(name: name, attributes: attributes, nextOffset: index + 1)) else { return }
      if plus, let child { remember(child) }
      index += 1
    }
  }

  public func releasedir(_ handle: UInt64) { releaseHandle(handle) }

  func addHandle(_ h: Handle) -> UInt64 {
    lock.lock()
    defer { lock.unlock() }
    nextHandle += 1
    handles[nextHandle] = h
    return nextHandle
  }

  func releaseHandle(_ handle: UInt64) {
    lock.lock()
    defer { lock.unlock() }
    handles.removeValue(forKey: handle)
  }
}

/// An open file or directory.
final class Handle {
  let node: Node?
  let directory: [(String, NodeAttributes, Node?)]?
  let isWritable: Bool
  var isControl = false
  var controlOutput: [UInt8] = []
  /// End of the last read, for sequential read-ahead.
  var lastReadEnd: UInt64 = 0

  init(node: Node, isWritable: Bool) {
    self.node = node
    self.directory = nil
    self.isWritable = isWritable
  }

  init(directory: [(String, NodeAttributes, Node?)]) {
    self.node = nil
    self.directory = directory
    self.isWritable = false
  }

  init(control output: [UInt8]) {
    self.node = nil
    self.directory = nil
    self.isWritable = true
    isControl = true
    controlOutput = output
  }
}
