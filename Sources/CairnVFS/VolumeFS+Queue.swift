import CairnCore
import Foundation

/// The result of a commit in degraded mode: published, or queued until the metadata service
/// answers (durable on local disk, applied in order, exactly once).
public enum CommitOutcome: Sendable, Equatable {
  case committed(version: UInt64)
  /// `position` is the number of commits in the queue, this one included; `key` its idempotency key.
  case queued(position: Int, key: String)
}

/// What to do with a queued commit the cluster refused (a strict conflict, or an error that a
/// retry cannot fix). The queue waits for this decision; nothing is dropped without it.
public enum QueueResolution: String, Sendable, CaseIterable {
  /// Remove the refused commit from the queue (its changes are discarded).
  case drop
  /// Send it again in merge mode (last writer wins per path), with the same idempotency key.
  case merge
}

extension VolumeFS {
  /// Most commits the queue holds; a commit past it fails (ENOSPC) and stays staged.
  public static let maxQueuedCommits = 1_000

  /// Commits in the queue.
  public var queuedCommitCount: Int {
    lock.lock()
    defer { lock.unlock() }
    return queue.count
  }

  /// False while the metadata service is known to be unreachable (degraded mode).
  public var isMetadataConnected: Bool { backend.health()?.isConnected ?? true }

  /// Longest an explicit commit waits for a probe of an unreachable metadata service.
  static let probeTimeoutSeconds = 3.0

  /// Asks the metadata service whether it answers again (whatever the backoff says); true when
  /// it does (or when the backend does not track connectivity).
  @discardableResult
  func probeNow() -> Bool {
    guard !isMetadataConnected else { return true }
    let answered = try? Bridge.wait(timeoutSeconds: min(config.operationTimeoutSeconds, Self.probeTimeoutSeconds), "probing the metadata service") {
      [backend] () throws(CairnError) in await backend.probe()
    }
    return answered ?? false
  }

  static func isRetryable(_ error: VFSError) -> Bool { error.code == .unavailable || error.code == .timedOut }

  // MARK: Commit or queue

  /// Publishes the staged changes as a new version; in degraded mode, when the metadata service
  /// (or a write quorum of chunk servers) cannot be reached, queues them instead. Commits already
  /// queued are sent first, so commits land in the order they were made.
  public func commitOrQueue(message: String = "", mode: CommitMode? = nil) throws(VFSError) -> CommitOutcome {
    try checkWritable()
    let mode = mode ?? defaultMode
    do {
      if config.isDegradedModeEnabled {
        probeNow()
        do throws(VFSError) { try drainQueue(probing: false) } catch where Self.isRetryable(error) {}
      }
      gate.writeLock()
      defer { gate.unlock() }
      lock.lock()
      let queued = queue.count
      let lastKey = queue.last?.key
      let hasOps = !ops.isEmpty
      let base = version
      let pendingKey = pendingCommit?.opCount == ops.count ? pendingCommit?.key : nil
      lock.unlock()
      guard hasOps else { return lastKey.map { .queued(position: queued, key: $0) } ?? .committed(version: base) }
      // Behind queued commits, or with the service known to be unreachable: queue at once
      // (trying would only wait out timeouts).
      if queued > 0 || (config.isDegradedModeEnabled && !isMetadataConnected) {
        let key = pendingKey ?? UUID().uuidString
        let position = try queueStaged(message: message, mode: mode, key: key)
        setLastCommitError("queued: the metadata service is unreachable")
        return .queued(position: position, key: key)
      }
      do throws(VFSError) {
        let v = try commitExclusive(message: message, mode: mode)
        setLastCommitError(nil)
        return .committed(version: v)
      } catch where config.isDegradedModeEnabled && Self.isRetryable(error) {
        lock.lock()
        let key = pendingCommit?.key ?? UUID().uuidString
        lock.unlock()
        let position = try queueStaged(message: message, mode: mode, key: key)
        setLastCommitError("queued: \(error.description)")
        return .queued(position: position, key: key)
      }
    } catch {
      setLastCommitError(error.description)
      logger.error("commit failed", metadata: ["volume": "\(config.volume)", "error": "\(error)"])
      throw error
    }
  }

  func setLastCommitError(_ text: String?) {
    lock.lock()
    lastCommitError = text
    lock.unlock()
  }

  /// Turns every staged op into one queued commit: hashes the staged files, stores their blocks in
  /// the outbox (fsynced), and rewrites the journal so the mount shows the pinned version plus the
  /// queued commits, with nothing staged. Caller holds the gate exclusively. Returns the queue length.
  func queueStaged(message: String, mode: CommitMode, key: String) throws(VFSError) -> Int {
    lock.lock()
    let pendingOps = ops
    let files = stagedFiles
    let base = version
    let queuedBefore = queue.count
    lock.unlock()
    precondition(!pendingOps.isEmpty, "only staged changes are queued")
    guard queuedBefore < Self.maxQueuedCommits else {
      throw VFSError(
        .noSpace, "the commit queue is full (\(Self.maxQueuedCommits) commits wait for the metadata service); the changes stay staged")
    }
    for file in files.values where !file.isDead { _ = Foundation.fsync(file.fd) }
    var manifests: [UInt64: Manifest] = [:]
    var blocks: [BlockAddress] = []
    var seen: Set<BlockAddress> = []
    let outbox = self.outbox
    for op in pendingOps {
      guard case .file(_, let id) = op, manifests[id] == nil, let file = files[id] else { continue }
      manifests[id] = try manifest(of: file) { (address, bytes) throws(VFSError) in
        guard seen.insert(address).inserted else { return }
        try outbox.put(address, bytes)
        blocks.append(address)
      }
    }
    outbox.sync()
    let entry = QueuedCommit(
      key: key, message: message, mode: mode, changes: try changeList(pendingOps, files: files, manifests: manifests, mode: mode),
      queuedOnVersion: base, queuedAtNanos: Self.nowNanos(), blocks: blocks)
    lock.lock()
    queue.append(entry)
    stagedFiles.removeAll()
    ops.removeAll()
    let previousPending = pendingCommit
    pendingCommit = nil
    lock.unlock()
    do throws(VFSError) {
      _ = try rebuild(to: base, replaying: [])
    } catch {
      lock.lock()
      queue.removeLast()
      stagedFiles = files
      ops = pendingOps
      pendingCommit = previousPending
      lock.unlock()
      throw error
    }
    for file in files.values { Foundation.unlink(file.path) }
    logger.warning(
      "commit queued: it is applied when the metadata service answers",
      metadata: [
        "volume": "\(config.volume)", "key": "\(key)", "changes": "\(entry.changes.count)", "blocks": "\(blocks.count)",
        "queued": "\(queuedBefore + 1)",
      ])
    uploadInBackground(blocks)
    return queuedBefore + 1
  }

  /// Chunk servers may be up while metadata is down: start moving the queued blocks now (best
  /// effort; the blocks stay in the outbox and are uploaded again before the commit is sent).
  private func uploadInBackground(_ blocks: [BlockAddress]) {
    let outbox = self.outbox
    let replicas = self.replicas
    Task.detached { [backend] in
      var batch: [(BlockAddress, [UInt8])] = []
      var bytes = 0
      for address in blocks {
        guard let data = try? outbox.get(address) else { continue }
        batch.append((address, data))
        bytes += data.count
        if bytes >= Self.uploadBatchBytes || address == blocks.last {
          do throws(CairnError) { try await backend.upload(batch, replicas: replicas) } catch { return }
          batch.removeAll()
          bytes = 0
        }
      }
    }
  }

  // MARK: Replay

  /// Sends queued commits, oldest first, each with the key fixed when it was queued and based on
  /// the version the previous one produced; after each, rebases the mount on the new version
  /// (changes staged since stay on top). Stops at the first error: an unreachable service leaves
  /// the queue as it is; a refusal (conflict, missing blocks…) pauses the queue until
  /// `resolveQueuedCommit` is called, and is reported by `status` and by every later commit.
  /// With `probing`, an unreachable service is probed first (the caller may just have done so).
  public func drainQueue(probing: Bool = true) throws(VFSError) {
    drainLock.lock()
    defer { drainLock.unlock() }
    if queuedCommitCount > 0, probing ? !probeNow() : !isMetadataConnected {
      throw VFSError(.unavailable, "the metadata service is unreachable: \(queuedCommitCount) commit(s) stay queued")
    }
    while true {
      lock.lock()
      guard let head = queue.first else {
        lock.unlock()
        return
      }
      if let paused = queuePausedError {
        lock.unlock()
        throw paused
      }
      let base = version
      lock.unlock()
      let result: CommitResult
      do throws(VFSError) {
        try uploadQueuedBlocks(head.blocks)
        result = try Bridge.wait(timeoutSeconds: config.commitTimeoutSeconds, "sending queued commit \(head.key)") {
          [backend] () throws(CairnError) in
          try await backend.commit(
            head.changes, baseVersion: base, mode: head.mode, message: head.message, idempotencyKey: head.key)
        }
      } catch where Self.isRetryable(error) {
        throw error
      } catch {
        let paused = VFSError(
          error.code, "queued commit \(head.key) ('\(head.message)') was refused: \(error.message)", details: error.details)
        lock.lock()
        queuePausedError = paused
        lock.unlock()
        logger.error(
          "a queued commit was refused; the queue waits ('cairn commit MOUNTPOINT --resolve-queued drop|merge')",
          metadata: ["key": "\(head.key)", "error": "\(paused)"])
        throw paused
      }
      try applied(head, result: result)
    }
  }

  /// Records that the queue's head was applied as `result` and rebases the mount on it.
  private func applied(_ head: QueuedCommit, result: CommitResult) throws(VFSError) {
    gate.writeLock()
    defer { gate.unlock() }
    lock.lock()
    precondition(queue.first == head, "only the queue's head is applied")
    queue.removeFirst()
    let staged = ops
    let stillNeeded = Set(queue.flatMap(\.blocks))
    lastCommitVersion = result.version
    lastCommitTime = Date()
    if queue.isEmpty { lastCommitError = nil }
    lock.unlock()
    do throws(VFSError) {
      _ = try rebuild(to: result.version, replaying: staged)
    } catch {
      // Resending it is safe: its key makes the cluster answer with the same version.
      lock.lock()
      queue.insert(head, at: 0)
      lock.unlock()
      throw error
    }
    for address in head.blocks where !stillNeeded.contains(address) { outbox.remove(address) }
    logger.notice(
      "queued commit applied",
      metadata: [
        "volume": "\(config.volume)", "key": "\(head.key)", "version": "\(result.version)",
        "duplicate": "\(result.wasDuplicate)", "remaining": "\(queuedCommitCount)",
      ])
  }

  private func uploadQueuedBlocks(_ blocks: [BlockAddress]) throws(VFSError) {
    var batch: [(BlockAddress, [UInt8])] = []
    var bytes = 0
    for (index, address) in blocks.enumerated() {
      if let data = try outbox.get(address) {
        batch.append((address, data))
        bytes += data.count
      }
      guard !batch.isEmpty, bytes >= Self.uploadBatchBytes || index == blocks.count - 1 else { continue }
      let send = batch
      try Bridge.wait(timeoutSeconds: config.commitTimeoutSeconds, "uploading queued blocks") {
        [backend, replicas] () throws(CairnError) in
        try await backend.upload(send, replicas: replicas)
      }
      batch.removeAll()
      bytes = 0
    }
  }

  /// Decides about a queued commit the cluster refused, then lets the queue continue.
  @discardableResult
  public func resolveQueuedCommit(_ resolution: QueueResolution) throws(VFSError) -> QueuedCommit {
    drainLock.lock()
    defer { drainLock.unlock() }
    gate.writeLock()
    defer { gate.unlock() }
    lock.lock()
    guard queuePausedError != nil, let head = queue.first else {
      lock.unlock()
      throw VFSError(.invalid, "no queued commit is waiting for a decision")
    }
    switch resolution {
    case .drop: queue.removeFirst()
    case .merge: queue[0].mode = .merge
    }
    let paused = queuePausedError
    queuePausedError = nil
    let staged = ops
    let stillNeeded = Set(queue.flatMap(\.blocks))
    lock.unlock()
    do throws(VFSError) {
      _ = try rebuild(to: version, replaying: staged)
    } catch {
      lock.lock()
      if resolution == .drop { queue.insert(head, at: 0) } else { queue[0].mode = head.mode }
      queuePausedError = paused
      lock.unlock()
      throw error
    }
    if resolution == .drop {
      for address in head.blocks where !stillNeeded.contains(address) { outbox.remove(address) }
    }
    logger.warning(
      "queued commit resolved by the operator",
      metadata: [
        "key": "\(head.key)", "resolution": "\(resolution.rawValue)", "paths": "\(head.changes.map(\.target.rawValue).prefix(20))",
      ])
    return head
  }

  // MARK: Background loop

  /// While the metadata service is unreachable, probes it with backoff; while commits are queued,
  /// sends them with backoff (0.5 s doubling to 5 s). Calls `onReconnect` after a probe that ends
  /// a degraded period. Runs on the calling thread until `shouldStop` returns true.
  public func runDegradedModeLoop(shouldStop: () -> Bool, onReconnect: () -> Void = {}) {
    var delay = 0.5
    var waited = 0.0
    while !shouldStop() {
      Thread.sleep(forTimeInterval: 0.25)
      waited += 0.25
      let isDegraded = backend.health().map { !$0.isConnected } ?? false
      lock.lock()
      let isPending = !queue.isEmpty && queuePausedError == nil
      lock.unlock()
      guard isDegraded || isPending else {
        delay = 0.5
        continue
      }
      guard waited >= delay else { continue }
      waited = 0
      if isDegraded {
        guard probeNow() else {
          delay = min(5, delay * 2)
          continue
        }
        onReconnect()
      }
      guard isPending else { continue }
      do throws(VFSError) {
        try drainQueue()
        delay = 0.5
      } catch {
        delay = min(5, delay * 2)
      }
    }
  }

  // MARK: Queued changes in the tree

  /// Applies one change of a queued commit to the tree under `root` (as the cluster would apply it
  /// in merge mode: parents of a put are created). Runs under the state lock.
  func applyQueued(_ change: Change, root: Node) throws {
    switch change {
    case .put(let path, let new):
      try makeParents(of: path, root: root)
      let existing = try resolve(path, from: root)
      switch new {
      case .directory(let attributes):
        if let existing, existing.kind == .directory {
          existing.attributes = attributes
          return
        }
        if existing != nil { try apply(.delete(path, recursive: true), root: root) }
        try apply(.mkdir(path, attributes), root: root)
      case .symlink(let target, let attributes):
        if existing != nil { try apply(.delete(path, recursive: true), root: root) }
        try apply(.symlink(path, target: target, attributes), root: root)
      case .file(let manifest, let attributes):
        if existing != nil { try apply(.delete(path, recursive: true), root: root) }
        guard let dir = try resolve(path.parent, from: root) else { throw VFSError(.notFound, "'\(path.parent)' not found") }
        let node = Node(
          id: allocateId(), kind: .file, attributes: attributes, path: path, version: root.version,
          generation: root.generation, base: manifest)
        node.parent = dir
        dir.children?[path.name] = node
      }
    case .delete(let path, _):
      if try resolve(path, from: root) != nil { try apply(.delete(path, recursive: true), root: root) }
    case .rename(let from, let to, let replace):
      try makeParents(of: to, root: root)
      try apply(.rename(from: from, to: to, replace: replace), root: root)
    case .copy:
      throw VFSError(.notSupported, "a mount never queues copies")
    }
  }

  private func makeParents(of path: VolumePath, root: Node) throws {
    var missing: [VolumePath] = []
    var p = path.parent
    while !p.isRoot, try resolve(p, from: root) == nil {
      missing.append(p)
      p = p.parent
    }
    for dir in missing.reversed() {
      try apply(.mkdir(dir, Attributes(mode: 0o40755, mtimeNanos: Self.nowNanos())), root: root)
    }
  }
}
