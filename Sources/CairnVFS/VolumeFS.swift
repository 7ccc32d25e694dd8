import CairnCore
import Foundation
import Logging

/// Thrown inside the state lock when a directory's children must be fetched first; the caller
/// drops the lock, loads, and retries.
struct NeedsListing: Error {
  let node: Node
}

/// A mounted volume with POSIX semantics: a tree pinned at one version, loaded lazily, with local
/// changes staged on disk and recorded in order as the next commit. No FUSE types: every call is
/// synchronous (FUSE worker threads call it) and bounded by the configured timeouts.
public final class VolumeFS: @unchecked Sendable {
  public static let rootId: UInt64 = 1
  /// Hidden control directory `/.cairn` and its file `/.cairn/control`.
  public static let controlDirectoryName = ".cairn"
  static let controlDirectoryId: UInt64 = 2
  static let controlFileId: UInt64 = 3

  /// True for `/.cairn/control` (served with direct I/O: its content is generated on open).
  public static func isControlFile(_ id: UInt64) -> Bool { id == controlFileId }

  let config: MountConfiguration
  let backend: any VolumeBackend
  let logger: Logger
  let blockBytes: Int
  let replicas: Int
  let defaultMode: CommitMode
  let cache: BlockCache
  let journal: Journal
  let stagingDirectory: String
  /// Path of the control socket (served by the daemon, reported by `status`).
  public let controlSocketPath: String

  /// Guards every field below.
  let lock = NSLock()
  /// Mutations hold it shared; commit and reload hold it exclusively.
  let gate = ReadWriteLock()
  var root: Node
  var version: UInt64
  var generation: UInt64 = 1
  var ops: [StagedOp] = []
  var stagedFiles: [UInt64: StagedFile] = [:]
  var nodes: [UInt64: Node] = [:]
  var lookups: [UInt64: UInt64] = [:]
  /// Kernel ids of version entries: by inode for directories; by inode and content for files and
  /// symlinks, so changed content gets a new id (and a fresh kernel page cache, which
  /// keeps files opened before a reload reading their old content).
  var idByEntry: [EntryKey: UInt64] = [:]
  var idByStagingId: [UInt64: UInt64] = [:]
  var nextId: UInt64 = 16
  var nextStagingId: UInt64 = 1
  var handles: [UInt64: Handle] = [:]
  var nextHandle: UInt64 = 1
  var lastCommitVersion: UInt64?
  var lastCommitTime: Date?
  var lastCommitError: String?
  /// Key of a commit whose outcome is unknown, reused while no op was added since.
  var pendingCommit: (key: String, opCount: Int)?
  var inflight: [BlockAddress: BlockFetch] = [:]
  static let maxPrefetches = 12
  /// Commits queued while the cluster was unreachable, oldest first (degraded mode).
  var queue: [QueuedCommit] = []
  /// Set when the cluster refused the queue's head; the queue waits for an operator decision.
  var queuePausedError: VFSError?
  /// Blocks of queued commits.
  let outbox: Outbox
  /// One sender of queued commits at a time; taken before the gate, never after it.
  let drainLock = NSLock()
  /// How the pinned version was chosen when the metadata service was unreachable at mount time.
  var pinSource: String?

  /// Opens the mount's state: the staging area under the cache directory (recovering a journal
  /// left by a crashed daemon) and the pinned version's root. Recovered changes are applied on top
  /// of the version they were staged on; call `commit` to publish them.
  public init(configuration: MountConfiguration, backend: any VolumeBackend, logger: Logger) throws(VFSError) {
    config = configuration
    self.backend = backend
    self.logger = logger
    let dir = configuration.cacheDirectory
    stagingDirectory = dir + "/staging"
    controlSocketPath = dir + "/control.sock"
    do {
      try FileManager.default.createDirectory(atPath: stagingDirectory + "/files", withIntermediateDirectories: true)
    } catch {
      throw VFSError(.io, "cannot create the staging area '\(stagingDirectory)': \(error.localizedDescription)")
    }
    let timeout = configuration.operationTimeoutSeconds
    let info = try Bridge.wait(timeoutSeconds: timeout, "reading volume '\(configuration.volume)'") { [backend] () throws(CairnError) in
      try await backend.volume()
    }
    blockBytes = Int(info.settings.blockBytes)
    replicas = Int(info.settings.replicationFactor)
    defaultMode = configuration.commitMode ?? info.settings.defaultCommitMode
    outbox = try Outbox(directory: stagingDirectory + "/outbox")
    if configuration.isDegradedModeEnabled, let health = backend.health(), !health.isConnected {
      pinSource = configuration.version.map { "node metadata cache: version \($0) as requested" } ?? health.versionSource
      logger.warning(
        "metadata service unreachable: mounting from the node metadata cache",
        metadata: ["version": "\(configuration.version ?? info.headVersion)", "error": "\(health.lastError ?? "")"])
    }
    cache = BlockCache(
      memoryLimitBytes: configuration.memoryCacheBytes, diskLimitBytes: configuration.diskCacheBytes,
      directory: dir + "/blocks")
    let journalPath = stagingDirectory + "/journal"
    let recovered = Journal.read(path: journalPath)
    var pinned = configuration.version ?? info.headVersion
    if case .header(let volume, let baseVersion, _) = recovered.first, volume == configuration.volume.rawValue,
      recovered.count > 1
    {
      pinned = baseVersion
    }
    version = pinned
    root = Node(
      id: Self.rootId, kind: .directory, attributes: Attributes(mode: 0o40755, mtimeNanos: Self.nowNanos()),
      path: .root, version: pinned, generation: 1)
    root.listingSource = .root
    journal = try Journal(path: journalPath)
    nodes[Self.rootId] = root
    lookups[Self.rootId] = 1
    try load(root)
    if recovered.count > 1, case .header(let volume, _, _) = recovered.first, volume == configuration.volume.rawValue {
      try recover(recovered)
    } else {
      try journal.replace(with: [.header(volume: configuration.volume.rawValue, baseVersion: pinned, blockBytes: blockBytes)])
      removeOrphanStagingFiles()
    }
  }

  /// True when the staging area holds changes not yet committed.
  public var hasStagedChanges: Bool {
    lock.lock()
    defer { lock.unlock() }
    return !ops.isEmpty
  }

  public var pinnedVersion: UInt64 {
    lock.lock()
    defer { lock.unlock() }
    return version
  }

  static func nowNanos() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }

  // MARK: Nodes and ids

  /// Looks up a node by the id the kernel holds.
  func node(_ id: UInt64) throws -> Node {
    guard let n = nodes[id] else { throw VFSError(.stale, "inode \(id) is not known") }
    return n
  }

  func allocateId() -> UInt64 {
    nextId += 1
    return nextId
  }

  /// Makes a node for an entry of a version, keeping the id the kernel knows for that entry.
  func makeNode(_ e: DirectoryEntry, version: UInt64, generation: UInt64) -> Node {
    var content = Hasher()
    if e.entry.kind != .directory {
      content.combine(e.entry.manifest)
      content.combine(e.entry.symlinkTarget)
      content.combine(e.entry.attributes.mtimeNanos)
    }
    let key = EntryKey(inode: e.entry.inode, content: content.finalize())
    let id: UInt64
    if let known = idByEntry[key] {
      id = known
    } else {
      id = allocateId()
      idByEntry[key] = id
    }
    let node = Node(
      id: id, kind: e.entry.kind, attributes: e.entry.attributes, path: e.path, version: version,
      generation: generation, base: e.entry.manifest, symlinkTarget: e.entry.symlinkTarget)
    node.entryInode = e.entry.inode
    if e.entry.kind == .directory { node.listingSource = e.path }
    if lookups[id] != nil, generation == self.generation { nodes[id] = node }
    return node
  }

  /// Registers a node the kernel now holds one more reference to.
  func remember(_ node: Node) {
    nodes[node.id] = node
    lookups[node.id, default: 0] += 1
  }

  /// The child of a loaded directory, or NeedsListing.
  func child(_ dir: Node, _ name: String) throws -> Node? {
    guard dir.kind == .directory else { throw VFSError(.notADirectory, "'\(dir.path)' is not a directory") }
    guard let children = dir.children else { throw NeedsListing(node: dir) }
    return children[name]
  }

  /// Resolves a path from `root` (every directory on the way must be loaded or NeedsListing).
  func resolve(_ path: VolumePath, from root: Node) throws -> Node? {
    var current = root
    for part in path.components {
      guard let next = try child(current, String(part)) else { return nil }
      current = next
    }
    return current
  }

  /// Fetches a directory's children from its version (outside the state lock) and installs them.
  func load(_ dir: Node) throws(VFSError) {
    lock.lock()
    let source = dir.listingSource
    let isLoaded = dir.children != nil
    lock.unlock()
    if isLoaded { return }
    var entries: [DirectoryEntry] = []
    if let source {
      let v = dir.version
      entries = try Bridge.wait(timeoutSeconds: config.operationTimeoutSeconds, "listing '\(source)'") {
        [backend] () throws(CairnError) in
        try await backend.list(source, version: v)
      }
    }
    lock.lock()
    defer { lock.unlock() }
    guard dir.children == nil else { return }
    var children: [String: Node] = [:]
    for e in entries {
      let child = makeNode(e, version: dir.version, generation: dir.generation)
      child.parent = dir
      if let p = try? dir.path.appending(e.path.name) { child.path = p }
      children[e.path.name] = child
    }
    dir.children = children
  }

  /// Runs `body` under the state lock, loading directories it needs first.
  func locked<T>(_ body: () throws -> T) throws(VFSError) -> T {
    for _ in 0..<64 {
      lock.lock()
      do {
        let value = try body()
        lock.unlock()
        return value
      } catch let needs as NeedsListing {
        lock.unlock()
        try load(needs.node)
      } catch let error as VFSError {
        lock.unlock()
        throw error
      } catch {
        lock.unlock()
        throw VFSError(.io, "\(error)")
      }
    }
    throw VFSError(.io, "directory listing did not settle")
  }

  /// The node of the current tree that `node` stands for (itself unless a reload replaced it).
  func current(_ node: Node) throws -> Node {
    if node.generation == generation || node.isUnlinked || node.id == Self.rootId { return node.id == Self.rootId ? root : node }
    guard let now = try resolve(node.path, from: root), now.kind == node.kind else {
      throw VFSError(.stale, "'\(node.path)' is no longer in the mounted version")
    }
    return now
  }

  func checkWritable() throws(VFSError) {
    if config.isReadOnly { throw VFSError(.readOnly, "the mount of '\(config.volume)' is read-only") }
  }

  static func checkName(_ name: String) throws(VFSError) {
    if name.utf8.count > Limits.maxNameBytes { throw VFSError(.nameTooLong, "name '\(name.prefix(40))…' is too long") }
    if name.isEmpty || name == "." || name == ".." || name.contains("/") { throw VFSError(.invalid, "invalid name '\(name)'") }
  }

  func childPath(_ dir: Node, _ name: String) throws -> VolumePath {
    do { return try dir.path.appending(name) } catch { throw VFSError(.nameTooLong, error.message) }
  }

  // MARK: Lookup and attributes

  public func lookup(parent: UInt64, name: String) throws(VFSError) -> NodeAttributes {
    if parent == Self.rootId && name == Self.controlDirectoryName { return controlAttributes(Self.controlDirectoryId) }
    if parent == Self.controlDirectoryId {
      guard name == "control" else { throw VFSError(.notFound, "no control file '\(name)'") }
      return controlAttributes(Self.controlFileId)
    }
    try Self.checkName(name)
    return try locked {
      let dir = try current(try node(parent))
      guard let found = try child(dir, name) else { throw VFSError(.notFound, "'\(dir.path)/\(name)' not found") }
      remember(found)
      return found.stat()
    }
  }

  public func forget(_ id: UInt64, count: UInt64) {
    lock.lock()
    defer { lock.unlock() }
    guard id != Self.rootId, let n = lookups[id] else { return }
    if n <= count {
      lookups.removeValue(forKey: id)
      nodes.removeValue(forKey: id)
    } else {
      lookups[id] = n - count
    }
  }

  public func getattr(_ id: UInt64) throws(VFSError) -> NodeAttributes {
    if id == Self.controlDirectoryId || id == Self.controlFileId { return controlAttributes(id) }
    return try locked {
      let n = try node(id)
      if n.generation != generation, !n.isUnlinked, let now = try? current(n) { return now.stat() }
      return n.stat()
    }
  }

  public func readlink(_ id: UInt64) throws(VFSError) -> String {
    try locked {
      let n = try node(id)
      guard n.kind == .symlink else { throw VFSError(.invalid, "'\(n.path)' is not a symlink") }
      return n.symlinkTarget
    }
  }

  func controlAttributes(_ id: UInt64) -> NodeAttributes {
    let isDir = id == Self.controlDirectoryId
    return NodeAttributes(
      inode: id, kind: isDir ? .directory : .file, mode: isDir ? 0o40555 : 0o100600, uid: 0, gid: 0, sizeBytes: 0,
      mtimeNanos: Self.nowNanos(), ctimeNanos: Self.nowNanos(), linkCount: 1)
  }

  /// File system totals for `statfs` (the volume has no fixed capacity; report a large one).
  public func statfs() -> (blockBytes: Int, totalBlocks: UInt64, freeBlocks: UInt64, files: UInt64, freeFiles: UInt64) {
    (4096, 1 << 34, 1 << 33, 1 << 30, 1 << 29)
  }
}

/// One block fetch in flight; every reader of that block waits on `done`.
final class BlockFetch: @unchecked Sendable {
  /// Signalled (many times, once per possible waiter) when the fetch ends.
  let done = MultiSignal()
  var bytes: [UInt8]?
  var error: VFSError?
}

/// A latch: once signalled, every present and future `wait` returns at once.
final class MultiSignal: @unchecked Sendable {
  private let condition = NSCondition()
  private var isSet = false

  func signal(count: Int) {
    condition.lock()
    isSet = true
    condition.broadcast()
    condition.unlock()
  }

  func wait(timeout: DispatchTime) -> DispatchTimeoutResult {
    let deadline = Date().addingTimeInterval(Double(Int64(timeout.uptimeNanoseconds) - Int64(DispatchTime.now().uptimeNanoseconds)) / 1e9)
    condition.lock()
    defer { condition.unlock() }
    while !isSet {
      if !condition.wait(until: deadline) { return isSet ? .success : .timedOut }
    }
    return .success
  }
}

/// Identity of a version entry for kernel id assignment.
struct EntryKey: Hashable {
  let inode: UInt64
  /// Hash of a file's manifest, symlink target and mtime (0 for directories).
  let content: Int
}

/// A reader-writer lock over pthread_rwlock (FUSE threads are not Swift concurrency threads).
/// Writer-preferring, so a stream of writes cannot starve a commit; no caller takes the read side
/// twice on one thread (that could deadlock behind a waiting writer).
final class ReadWriteLock: @unchecked Sendable {
  private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
  init() {
    var attributes = pthread_rwlockattr_t()
    pthread_rwlockattr_init(&attributes)
    pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
    pthread_rwlock_init(lock, &attributes)
    pthread_rwlockattr_destroy(&attributes)
  }
  deinit {
    pthread_rwlock_destroy(lock)
    lock.deallocate()
  }
  func readLock() { pthread_rwlock_rdlock(lock) }
  func writeLock() { pthread_rwlock_wrlock(lock) }
  func unlock() { pthread_rwlock_unlock(lock) }
}
