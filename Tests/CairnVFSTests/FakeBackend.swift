import CairnCore
import CairnVFS
import Foundation

/// An in-memory twin of the cluster for VFS unit tests: versions as path → entry maps, a block
/// store, merge/strict commits, and switches for faults.
final class FakeBackend: VolumeBackend, @unchecked Sendable {
  private let lock = NSLock()
  private(set) var versions: [[VolumePath: Entry]] = [[:]]
  private(set) var blocks: [BlockAddress: [UInt8]] = [:]
  private(set) var uploadedBlocks = 0
  private(set) var commits: [[Change]] = []
  var corrupt: Set<BlockAddress> = []
  /// The metadata service is down: volume, list, diff and commit fail (blocks still move).
  var isUnavailable = false
  /// The next commit is applied, then reported as timed out (a lost reply).
  var loseNextCommitReply = false
  /// Idempotency keys of applied commits, in order, and the version each produced.
  private(set) var commitKeys: [String] = []
  private var versionByKey: [String: UInt64] = [:]
  private var nextInode: UInt64 = 100
  let blockBytes: Int

  init(blockBytes: Int = 65536) { self.blockBytes = blockBytes }

  var head: [VolumePath: Entry] {
    lock.lock()
    defer { lock.unlock() }
    return versions.last ?? [:]
  }

  /// Stores `bytes` as blocks and returns their manifest (zero blocks become holes).
  func manifest(of bytes: [UInt8]) -> Manifest {
    lock.lock()
    defer { lock.unlock() }
    var refs: [BlockRef] = []
    var offset = 0
    while offset < bytes.count {
      let chunk = Array(bytes[offset..<min(bytes.count, offset + blockBytes)])
      if chunk.allSatisfy({ $0 == 0 }) {
        refs.append(BlockRef(address: nil, length: UInt32(chunk.count)))
      } else {
        let a = BlockAddress.of(chunk)
        blocks[a] = chunk
        refs.append(BlockRef(address: a, length: UInt32(chunk.count)))
      }
      offset += chunk.count
    }
    return Manifest(blocks: refs)
  }

  /// Commits a file directly (as another writer would).
  func seed(_ path: String, _ bytes: [UInt8]) throws {
    let m = manifest(of: bytes)
    _ = try apply([.put(try VolumePath(path), .file(m, Attributes(mode: 0o100644, mtimeNanos: 1)))], base: nil, mode: .merge)
  }

  func content(_ path: String) throws -> [UInt8]? {
    guard let e = head[try VolumePath(path)] else { return nil }
    lock.lock()
    defer { lock.unlock() }
    return e.manifest.blocks.flatMap { ref in ref.address.map { blocks[$0] ?? [] } ?? [UInt8](repeating: 0, count: Int(ref.length)) }
  }

  func volume() async throws(CairnError) -> VolumeInfo { try volumeSync() }

  private func volumeSync() throws(CairnError) -> VolumeInfo {
    if isUnavailable { throw CairnError(.unavailable, "fake cluster is down") }
    lock.lock()
    defer { lock.unlock() }
    return VolumeInfo(
      name: try VolumeName("fake"), id: 1, headVersion: UInt64(versions.count), oldestVersion: 1,
      settings: VolumeSettings(blockBytes: UInt32(blockBytes), replicationFactor: 1), createdNanos: 0, updatedNanos: 0,
      fileCount: 0, totalBytes: 0)
  }

  func list(_ path: VolumePath, version: UInt64) async throws(CairnError) -> [DirectoryEntry] {
    try listSync(path, version: version)
  }

  private func listSync(_ path: VolumePath, version: UInt64) throws(CairnError) -> [DirectoryEntry] {
    if isUnavailable { throw CairnError(.unavailable, "fake cluster is down") }
    lock.lock()
    defer { lock.unlock() }
    guard version >= 1, Int(version) <= versions.count else { throw .notFound("no version \(version)") }
    return versions[Int(version) - 1].filter { !$0.key.isRoot && $0.key.parent == path }
      .map { DirectoryEntry(path: $0.key, entry: $0.value, modifiedInVersion: version) }.sorted { $0.path < $1.path }
  }

  func fetch(_ ref: BlockRef) async throws(CairnError) -> [UInt8] { try fetchSync(ref) }

  private func fetchSync(_ ref: BlockRef) throws(CairnError) -> [UInt8] {
    guard let a = ref.address else { return [UInt8](repeating: 0, count: Int(ref.length)) }
    lock.lock()
    defer { lock.unlock() }
    if corrupt.contains(a) { throw CairnError(.corruptBlock, "no good copy of block \(a.shortHex)") }
    guard let b = blocks[a] else { throw CairnError(.unavailable, "block \(a.shortHex) missing") }
    return b
  }

  func upload(_ list: [(BlockAddress, [UInt8])], replicas: Int) async throws(CairnError) { try uploadSync(list) }

  private func uploadSync(_ list: [(BlockAddress, [UInt8])]) throws(CairnError) {
    if isUnavailable { throw CairnError(.unavailable, "fake cluster is down") }
    lock.lock()
    defer { lock.unlock() }
    for (a, b) in list where blocks[a] == nil {
      precondition(BlockAddress.of(b) == a, "uploaded bytes must match their address")
      blocks[a] = b
      uploadedBlocks += 1
    }
  }

  func commit(_ changes: [Change], baseVersion: UInt64, mode: CommitMode, message: String, idempotencyKey: String)
    async throws(CairnError) -> CommitResult
  {
    if isUnavailable { throw CairnError(.unavailable, "fake cluster is down") }
    return try commitSync(changes, baseVersion: baseVersion, mode: mode, idempotencyKey: idempotencyKey)
  }

  /// Applies a commit once per idempotency key (a resend gets the first answer).
  private func commitSync(_ changes: [Change], baseVersion: UInt64, mode: CommitMode, idempotencyKey: String)
    throws(CairnError) -> CommitResult
  {
    lock.lock()
    let earlier = versionByKey[idempotencyKey]
    lock.unlock()
    if let earlier { return CommitResult(version: earlier, wasDuplicate: true) }
    let result = try apply(changes, base: baseVersion, mode: mode)
    lock.lock()
    versionByKey[idempotencyKey] = result.version
    commitKeys.append(idempotencyKey)
    let lose = loseNextCommitReply
    loseNextCommitReply = false
    lock.unlock()
    if lose { throw CairnError(.timeout, "fake reply lost") }
    return result
  }

  func diff(from: UInt64, to: UInt64) async throws(CairnError) -> [DiffEntry] { diffSync(from: from, to: to) }

  private func diffSync(from: UInt64, to: UInt64) -> [DiffEntry] {
    lock.lock()
    defer { lock.unlock() }
    let a = versions[Int(from) - 1]
    let b = versions[Int(to) - 1]
    return Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.map {
      DiffEntry(path: $0, kind: .modified, oldSize: 0, newSize: 0)
    }
  }

  private func apply(_ changes: [Change], base: UInt64?, mode: CommitMode) throws(CairnError) -> CommitResult {
    lock.lock()
    defer { lock.unlock() }
    var tree = versions.last ?? [:]
    if mode == .strict, let base, Int(base) < versions.count {
      let old = versions[Int(base) - 1]
      let conflicts = changes.map(\.target).filter { old[$0] != tree[$0] }
      if !conflicts.isEmpty { throw CairnError(.conflict, "strict commit conflicts", details: conflicts.map(\.rawValue)) }
    }
    for change in changes {
      switch change {
      case .put(let p, let new):
        var q = p.parent
        while !q.isRoot && tree[q] == nil {
          tree[q] = Entry(kind: .directory, inode: allocate(), attributes: Attributes(mode: 0o40755, mtimeNanos: 0))
          q = q.parent
        }
        let inode = tree[p]?.inode ?? allocate()
        switch new {
        case .file(let m, let a): tree[p] = Entry(kind: .file, inode: inode, attributes: a, manifest: m)
        case .directory(let a): tree[p] = Entry(kind: .directory, inode: inode, attributes: a)
        case .symlink(let t, let a): tree[p] = Entry(kind: .symlink, inode: inode, attributes: a, symlinkTarget: t)
        }
      case .delete(let p, _):
        for k in tree.keys where k.isWithin(p) { tree[k] = nil }
      case .rename(let from, let to, _):
        guard tree[from] != nil else { throw .notFound("'\(from)' not found") }
        for k in tree.keys where k.isWithin(to) { tree[k] = nil }
        for (k, v) in tree where k.isWithin(from) {
          tree[k] = nil
          tree[try k.rebased(from: from, to: to)] = v
        }
      case .copy: throw .invalid("copy is not used by the mount")
      }
    }
    versions.append(tree)
    commits.append(changes)
    return CommitResult(version: UInt64(versions.count), wasDuplicate: false)
  }

  private func allocate() -> UInt64 {
    nextInode += 1
    return nextInode
  }
}
