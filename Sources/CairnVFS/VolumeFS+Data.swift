import CairnCore
import Foundation

/// Attribute changes requested by `setattr` (nil: unchanged).
public struct AttributeChanges: Sendable {
  public var mode: UInt32?
  public var uid: UInt32?
  public var gid: UInt32?
  public var sizeBytes: UInt64?
  public var mtimeNanos: Int64?
  public init(mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, sizeBytes: UInt64? = nil, mtimeNanos: Int64? = nil) {
    self.mode = mode
    self.uid = uid
    self.gid = gid
    self.sizeBytes = sizeBytes
    self.mtimeNanos = mtimeNanos
  }
}

extension VolumeFS {
  // MARK: Open, create, release

  public func open(_ id: UInt64, flags: Int32) throws(VFSError) -> UInt64 {
    if id == Self.controlFileId { return addHandle(Handle(control: statusJSON())) }
    let isWritable = (flags & O_ACCMODE) != O_RDONLY
    if isWritable { try checkWritable() }
    let n: Node = try locked {
      let n = try current(try node(id))
      guard n.kind == .file else { throw VFSError(.isADirectory, "'\(n.path)' is not a regular file") }
      return n
    }
    if isWritable && (flags & O_TRUNC) != 0 { _ = try setattr(id, AttributeChanges(sizeBytes: 0)) }
    return addHandle(Handle(node: n, isWritable: isWritable))
  }

  public func create(parent: UInt64, name: String, mode: UInt32, flags: Int32, caller: Caller) throws(VFSError)
    -> (NodeAttributes, UInt64)
  {
    try Self.checkName(name)
    try refuseControlName(parent: parent, name: name)
    let (created, existed): (Node, Bool) = try mutate {
      let dir = try current(try node(parent))
      if let existing = try child(dir, name) {
        if (flags & O_EXCL) != 0 { throw VFSError(.exists, "'\(existing.path)' exists") }
        guard existing.kind == .file else { throw VFSError(.isADirectory, "'\(existing.path)' is not a regular file") }
        remember(existing)
        return (existing, true)
      }
      let path = try childPath(dir, name)
      let attributes = Attributes(
        mode: (mode & 0o7777) | FileType.regular, uid: caller.uid, gid: caller.gid, mtimeNanos: Self.nowNanos())
      let staged = try newStagedFile(base: Manifest(), attributes: attributes)
      try record(
        .file(path, stagingId: staged.stagingId),
        extra: [.stage(stagingId: staged.stagingId, base: Manifest(), attributes: attributes)])
      guard let made = try child(dir, name) else { throw VFSError(.io, "created file '\(path)' vanished") }
      remember(made)
      return (made, false)
    }
    if existed && (flags & O_TRUNC) != 0 { _ = try setattr(created.id, AttributeChanges(sizeBytes: 0)) }
    let handle = addHandle(Handle(node: created, isWritable: true))
    return (try getattr(created.id), handle)
  }

  public func release(_ handle: UInt64) { releaseHandle(handle) }

  /// `fsync`: makes the file's staged data and the journal durable on the local disk.
  public func fsync(_ handle: UInt64) throws(VFSError) {
    lock.lock()
    let staged = handles[handle]?.node?.staged
    lock.unlock()
    if let staged, Foundation.fsync(staged.fd) != 0 { throw VFSError(.io, "fsync of staged data failed") }
    try journal.sync()
  }

  // MARK: Staging

  /// Creates a staging file. Caller holds the state lock.
  func newStagedFile(base: Manifest, attributes: Attributes) throws -> StagedFile {
    let id = nextStagingId
    nextStagingId += 1
    let path = stagingDirectory + "/files/\(id)"
    let fd = Foundation.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw VFSError(errno == ENOSPC ? .noSpace : .io, "cannot create staging file '\(path)'") }
    guard ftruncate(fd, off_t(base.size)) == 0 else {
      Foundation.close(fd)
      throw VFSError(errno == ENOSPC ? .noSpace : .io, "cannot size staging file '\(path)'")
    }
    let staged = StagedFile(
      stagingId: id, fd: fd, path: path, blockBytes: blockBytes, sizeBytes: base.size, base: base, attributes: attributes)
    stagedFiles[id] = staged
    return staged
  }

  /// The staged content of a file, staging it first (recording the op) when needed. Caller holds
  /// the state lock and the commit gate.
  func stage(_ node: Node) throws -> StagedFile {
    if let staged = node.staged { return staged }
    let staged = try newStagedFile(base: node.base, attributes: node.attributes)
    if node.isUnlinked {
      Foundation.unlink(staged.path)
      staged.isDead = true
      node.staged = staged
      return staged
    }
    try record(
      .file(node.path, stagingId: staged.stagingId),
      extra: [.stage(stagingId: staged.stagingId, base: node.base, attributes: node.attributes)])
    node.staged = staged
    return staged
  }

  /// Copies base block `index` into the staging file so part of it can be overwritten.
  func materialize(_ staged: StagedFile, _ index: Int, base: Manifest) throws(VFSError) {
    let bytes = try blockData(base.blocks[index])
    try Self.pwriteAll(staged.fd, bytes, at: UInt64(index * blockBytes))
  }

  func markLocal(_ staged: StagedFile, _ indices: [Int]) throws(VFSError) {
    lock.lock()
    var records: [JournalRecord] = []
    for k in indices where k < staged.base.blocks.count && !staged.localBlocks.contains(k) {
      staged.localBlocks.insert(k)
      records.append(.blockLocal(stagingId: staged.stagingId, index: k))
    }
    lock.unlock()
    if !records.isEmpty && !staged.isDead { try journal.append(records) }
  }

  // MARK: Read and write

  public func read(handle: UInt64, offset: UInt64, count: Int) throws(VFSError) -> [UInt8] {
    lock.lock()
    guard let h = handles[handle] else {
      lock.unlock()
      throw VFSError(.badHandle, "bad file handle")
    }
    if h.isControl {
      lock.unlock()
      let start = min(Int(offset), h.controlOutput.count)
      return Array(h.controlOutput[start..<min(h.controlOutput.count, start + count)])
    }
    guard let node = h.node else {
      lock.unlock()
      throw VFSError(.isADirectory, "not a file")
    }
    let staged = node.staged
    let size = node.sizeBytes
    let base = staged?.base ?? node.base
    let local = staged?.localBlocks ?? []
    // Sequential enough for read-ahead: the kernel's own read-ahead and several FUSE threads
    // reorder requests a little, so accept anything within one block of the last end.
    let window = UInt64(blockBytes)
    let isSequential = offset + window >= h.lastReadEnd && offset <= h.lastReadEnd + window
    h.lastReadEnd = max(h.lastReadEnd, offset + UInt64(count))
    lock.unlock()
    guard offset < size, count > 0 else { return [] }
    let end = min(size, offset + UInt64(count))
    var out = [UInt8](repeating: 0, count: Int(end - offset))
    let b = UInt64(blockBytes)
    var position = offset
    while position < end {
      let k = Int(position / b)
      let blockStart = UInt64(k) * b
      let sliceEnd = min(end, blockStart + b)
      let n = Int(sliceEnd - position)
      let into = Int(position - offset)
      if let staged, k >= base.blocks.count || local.contains(k) {
        try Self.preadInto(&out, staged.fd, from: into, count: n, at: position)
      } else if k < base.blocks.count {
        let ref = base.blocks[k]
        let from = Int(position - blockStart)
        let available = max(0, min(n, Int(ref.length) - from))
        if available > 0, let address = ref.address {
          if let cached = cache.read(address, from..<(from + available)) {
            out.replaceSubrange(into..<(into + available), with: cached)
          } else {
            let bytes = try blockData(ref)
            guard bytes.count >= from + available else { throw VFSError(.io, "block \(address.shortHex) is short") }
            out.replaceSubrange(into..<(into + available), with: bytes[from..<(from + available)])
          }
        }
      }
      position = sliceEnd
    }
    let next = Int((end + b - 1) / b)
    if isSequential && config.readAheadBlocks > 0 && next < base.blocks.count {
      let refs = (next..<min(base.blocks.count, next + config.readAheadBlocks))
        .filter { !(staged != nil && local.contains($0)) }.map { base.blocks[$0] }
      prefetch(refs)
    }
    return out
  }

  public func write(handle: UInt64, offset: UInt64, data: UnsafeRawBufferPointer) throws(VFSError) -> Int {
    lock.lock()
    let h = handles[handle]
    lock.unlock()
    guard let h else { throw VFSError(.badHandle, "bad file handle") }
    if h.isControl { return try runControl(String(decoding: data, as: UTF8.self), count: data.count) }
    guard h.isWritable, let original = h.node else { throw VFSError(.badHandle, "file not open for writing") }
    try checkWritable()
    gate.readLock()
    defer { gate.unlock() }
    let staged: StagedFile = try locked { try stage(try current(original)) }
    staged.ioLock.lock()
    defer { staged.ioLock.unlock() }
    let end = offset + UInt64(data.count)
    lock.lock()
    let size = staged.sizeBytes
    let base = staged.base
    let local = staged.localBlocks
    lock.unlock()
    let b = UInt64(blockBytes)
    var touched: [Int] = []
    if end > size && size % b != 0 {
      let k = Int(size / b)
      if k < base.blocks.count && !local.contains(k) {
        try materialize(staged, k, base: base)
        touched.append(k)
      }
    }
    if data.count > 0 {
      let first = Int(offset / b)
      let last = Int((end - 1) / b)
      for k in first...last where k < base.blocks.count && !local.contains(k) && !touched.contains(k) {
        let blockStart = UInt64(k) * b
        let blockEnd = blockStart + UInt64(base.blocks[k].length)
        if !(offset <= blockStart && end >= blockEnd) { try materialize(staged, k, base: base) }
        touched.append(k)
      }
      try Self.pwriteAll(staged.fd, UnsafeRawBufferPointer(rebasing: data[...]), at: offset)
    }
    try markLocal(staged, touched)
    lock.lock()
    if end > staged.sizeBytes { staged.sizeBytes = end }
    staged.attributes.mtimeNanos = Self.nowNanos()
    staged.attributes.ctimeNanos = staged.attributes.mtimeNanos
    lock.unlock()
    return data.count
  }

  // MARK: Attributes

  public func setattr(_ id: UInt64, _ changes: AttributeChanges) throws(VFSError) -> NodeAttributes {
    if id == Self.controlDirectoryId || id == Self.controlFileId { return controlAttributes(id) }
    try checkWritable()
    gate.readLock()
    defer { gate.unlock() }
    let (n, staged): (Node, StagedFile?) = try locked {
      let n = try current(try node(id))
      if changes.sizeBytes != nil && n.kind != .file {
        throw VFSError(n.kind == .directory ? .isADirectory : .invalid, "'\(n.path)' is not a regular file")
      }
      var attributes = n.currentAttributes
      if let mode = changes.mode { attributes.mode = (attributes.mode & FileType.mask) | (mode & 0o7777) }
      if let uid = changes.uid { attributes.uid = uid }
      if let gid = changes.gid { attributes.gid = gid }
      if let mtime = changes.mtimeNanos { attributes.mtimeNanos = mtime }
      attributes.ctimeNanos = Self.nowNanos()
      switch n.kind {
      case .directory:
        if n.isUnlinked || n.path.isRoot { n.attributes = attributes } else {
          try record(.directoryAttributes(n.path, attributes))
        }
        return (n, nil)
      case .symlink:
        n.attributes = attributes
        return (n, nil)
      case .file:
        let staged = try stage(n)
        staged.attributes = attributes
        if !staged.isDead { try journal.append([.fileAttributes(stagingId: staged.stagingId, attributes)]) }
        return (n, staged)
      }
    }
    if let size = changes.sizeBytes, let staged { try truncate(staged, to: size) }
    return try locked { n.stat() }
  }

  func truncate(_ staged: StagedFile, to newSize: UInt64) throws(VFSError) {
    staged.ioLock.lock()
    defer { staged.ioLock.unlock() }
    lock.lock()
    let size = staged.sizeBytes
    let base = staged.base
    let local = staged.localBlocks
    lock.unlock()
    if newSize == size { return }
    let b = UInt64(blockBytes)
    // The block that holds the new (shrinking) or the old (growing) end keeps a partial length:
    // copy it in so the staging file is authoritative for it.
    let edge = newSize < size ? newSize : size
    var touched: [Int] = []
    if edge % b != 0 {
      let k = Int(edge / b)
      if k < base.blocks.count && !local.contains(k) {
        try materialize(staged, k, base: base)
        touched.append(k)
      }
    }
    try markLocal(staged, touched)
    guard ftruncate(staged.fd, off_t(newSize)) == 0 else {
      throw VFSError(errno == ENOSPC ? .noSpace : .io, "cannot resize staged file")
    }
    lock.lock()
    staged.sizeBytes = newSize
    let keep = Int((newSize + b - 1) / b)
    if keep < staged.base.blocks.count {
      staged.base.blocks.removeLast(staged.base.blocks.count - keep)
      staged.localBlocks = staged.localBlocks.filter { $0 < keep }
    }
    staged.attributes.mtimeNanos = Self.nowNanos()
    lock.unlock()
    if !staged.isDead { try journal.append([.truncate(stagingId: staged.stagingId, sizeBytes: newSize)]) }
  }
}
