import CairnCore
import Foundation

extension VolumeFS {
  // MARK: Commit

  /// Publishes every staged change as one new version: hashes the staged blocks, uploads those the
  /// cluster lacks, sends one commit (merge or strict), then rebases the mount on the new version.
  /// Mutations wait while it runs; reads continue. Returns the version the mount is pinned at.
  /// In degraded mode a commit that cannot reach the cluster is queued (`commitOrQueue`); this
  /// call then fails with `.queued`.
  @discardableResult
  public func commit(message: String = "", mode: CommitMode? = nil) throws(VFSError) -> UInt64 {
    switch try commitOrQueue(message: message, mode: mode) {
    case .committed(let version): return version
    case .queued(let position, let key):
      throw VFSError(
        .queued,
        "the cluster is unreachable: the commit is queued (\(position) in the queue, key \(key)) and is applied when it answers")
    }
  }

  func commitExclusive(message: String, mode: CommitMode) throws(VFSError) -> UInt64 {
    lock.lock()
    let pendingOps = ops
    let files = stagedFiles
    let base = version
    var key = UUID().uuidString
    if let pending = pendingCommit, pending.opCount == pendingOps.count { key = pending.key }
    lock.unlock()
    if pendingOps.isEmpty { return base }
    for file in files.values where !file.isDead { _ = Foundation.fsync(file.fd) }
    try journal.append([.commitStarted(key: key)])
    try journal.sync()
    lock.lock()
    pendingCommit = (key, pendingOps.count)
    lock.unlock()

    var manifests: [UInt64: Manifest] = [:]
    var batch: [(BlockAddress, [UInt8])] = []
    var batchBytes = 0
    var uploads: [UploadJob] = []
    do throws(VFSError) {
      for op in pendingOps {
        guard case .file(_, let id) = op, manifests[id] == nil, let file = files[id] else { continue }
        manifests[id] = try manifest(of: file) { (address, bytes) throws(VFSError) in
          batch.append((address, bytes))
          batchBytes += bytes.count
          if batchBytes >= Self.uploadBatchBytes { try upload(&batch, &batchBytes, &uploads) }
        }
      }
      try upload(&batch, &batchBytes, &uploads)
      for job in uploads { try finish(job) }
    } catch {
      for job in uploads { _ = job.done.wait(timeout: .now() + config.commitTimeoutSeconds) }
      throw error
    }
    let changes = try changeList(pendingOps, files: files, manifests: manifests, mode: mode)
    let result: CommitResult
    let finalChanges = changes
    let finalKey = key
    do {
      result = try Bridge.wait(timeoutSeconds: config.commitTimeoutSeconds, "commit") {
        [backend] () throws(CairnError) in
        try await backend.commit(finalChanges, baseVersion: base, mode: mode, message: message, idempotencyKey: finalKey)
      }
    } catch {
      if error.code != .unavailable && error.code != .timedOut {
        lock.lock()
        pendingCommit = nil
        lock.unlock()
      }
      throw error
    }
    // Which directories this version changed (only ours when nothing came in between; else
    // the service's diff), so this node's cached listings keep serving it when degraded.
    rememberMove(from: base, to: result.version, changedPaths: result.version == base + 1 ? MetadataCache.touchedPaths(changes) : nil)
    lock.lock()
    let keptPending = pendingCommit
    ops.removeAll()
    stagedFiles.removeAll()
    pendingCommit = nil
    lastCommitVersion = result.version
    lastCommitTime = Date()
    lock.unlock()
    logger.info(
      "committed", metadata: ["volume": "\(config.volume)", "version": "\(result.version)", "changes": "\(changes.count)"])
    do throws(VFSError) {
      _ = try rebuild(to: result.version, replaying: [])
    } catch where Self.isRetryable(error) {
      // (Only loading the new version's root can fail this way, before anything is swapped.)
      // Applied, but the mount could not move to the new version (the service went away
      // between the two). Keep the staged state and the commit's key, as the journal still
      // has them: the next commit (or the queue, in degraded mode) sends the same key, which
      // the service answers with this same version, and then the mount moves.
      lock.lock()
      ops = pendingOps
      stagedFiles = files
      pendingCommit = keptPending
      lock.unlock()
      logger.warning(
        "committed, but the mount stays on its version until the commit is confirmed again",
        metadata: ["volume": "\(config.volume)", "version": "\(result.version)", "error": "\(error.message)"])
      return result.version
    }
    for file in files.values { Foundation.unlink(file.path) }
    return result.version
  }

  /// Records the move in the node cache (bounded: at most one diff request of 3 s).
  func rememberMove(from: UInt64, to: UInt64, changedPaths: [VolumePath]?) {
    _ = try? Bridge.wait(timeoutSeconds: min(config.operationTimeoutSeconds, 3), "recording a version link") {
      [backend] () throws(CairnError) in
      await backend.rememberMove(from: from, to: to, changedPaths: changedPaths)
    }
  }

  /// The commit's changes, in the order the ops were made.
  func changeList(_ pendingOps: [StagedOp], files: [UInt64: StagedFile], manifests: [UInt64: Manifest], mode: CommitMode)
    throws(VFSError) -> [Change]
  {
    var changes: [Change] = []
    for op in pendingOps {
      switch op {
      case .mkdir(let p, let a), .directoryAttributes(let p, let a): changes.append(.put(p, .directory(a)))
      case .symlink(let p, let target, let a): changes.append(.put(p, .symlink(target: target, a)))
      case .file(let p, let id):
        guard let file = files[id], let m = manifests[id] else { throw VFSError(.io, "staged file \(id) is missing") }
        var a = file.attributes
        a.mode = (a.mode & 0o7777) | FileType.regular
        changes.append(.put(p, .file(m, a)))
      case .delete(let p, let recursive): changes.append(.delete(p, recursive: recursive || mode == .merge))
      case .rename(let from, let to, let replace): changes.append(.rename(from: from, to: to, replace: replace))
      }
    }
    return changes
  }

  /// The manifest of a staged file's current content; each local non-zero block is hashed and
  /// handed to `sink` (which uploads it, or stores it for a queued commit).
  func manifest(of file: StagedFile, sink: (BlockAddress, [UInt8]) throws(VFSError) -> Void) throws(VFSError)
    -> Manifest
  {
    if file.isDead { return Manifest() }
    lock.lock()
    let size = file.sizeBytes
    let base = file.base
    let local = file.localBlocks
    lock.unlock()
    let b = UInt64(blockBytes)
    var refs: [BlockRef] = []
    var offset: UInt64 = 0
    var k = 0
    while offset < size {
      let length = Int(min(b, size - offset))
      if k >= base.blocks.count || local.contains(k) {
        var bytes = [UInt8](repeating: 0, count: length)
        try Self.preadInto(&bytes, file.fd, from: 0, count: length, at: offset)
        if bytes.allSatisfy({ $0 == 0 }) {
          refs.append(BlockRef(address: nil, length: UInt32(length)))
        } else {
          let address = BlockAddress.of(bytes)
          refs.append(BlockRef(address: address, length: UInt32(length)))
          try sink(address, bytes)
        }
      } else {
        refs.append(base.blocks[k])
      }
      offset += UInt64(length)
      k += 1
    }
    return Manifest(blocks: refs)
  }

  /// Most bytes of staged blocks in one upload batch.
  static let uploadBatchBytes = 32 << 20

  /// Starts uploading a batch (hashing of the next batch goes on meanwhile); keeps at most
  /// `maxUploadsInFlight` batches in flight, so memory stays bounded.
  private func upload(_ batch: inout [(BlockAddress, [UInt8])], _ batchBytes: inout Int, _ inFlight: inout [UploadJob])
    throws(VFSError)
  {
    guard !batch.isEmpty else { return }
    let job = UploadJob()
    let blocks = batch
    let r = replicas
    Task { [backend, cache] in
      do throws(CairnError) {
        try await backend.upload(blocks, replicas: r)
        for (address, bytes) in blocks { cache.put(address, bytes, toDisk: false) }
      } catch {
        job.error = VFSError(error)
      }
      job.done.signal(count: 1)
    }
    inFlight.append(job)
    batch.removeAll()
    batchBytes = 0
    while inFlight.count > Self.maxUploadsInFlight { try finish(inFlight.removeFirst()) }
  }

  /// Most upload batches in flight during a commit (each at most `uploadBatchBytes`).
  static let maxUploadsInFlight = 2

  private func finish(_ job: UploadJob) throws(VFSError) {
    guard job.done.wait(timeout: .now() + config.commitTimeoutSeconds) == .success else {
      throw VFSError(.timedOut, "uploading blocks did not finish within \(Int(config.commitTimeoutSeconds)) s")
    }
    if let error = job.error { throw error }
  }

  // MARK: Reload

  /// Moves the pin to `version` (default: the head). The new tree is loaded and the staged changes
  /// re-applied on it before it replaces the old one in a single step; open files keep reading the
  /// version they were opened at. In strict mode, refuses when the staged changes touch paths
  /// changed between the pinned and the target version.
  @discardableResult
  public func reload(to target: UInt64? = nil, mode: CommitMode? = nil) throws(VFSError) -> UInt64 {
    if queuedCommitCount > 0 {
      do throws(VFSError) { try drainQueue() } catch {
        throw VFSError(
          error.code, "\(queuedCommitCount) queued commit(s) must be applied before a reload: \(error.message)",
          details: error.details)
      }
    }
    gate.writeLock()
    defer { gate.unlock() }
    let destination: UInt64
    if let target {
      destination = target
    } else {
      probeNow()
      destination = try Bridge.wait(timeoutSeconds: config.operationTimeoutSeconds, "reading the head version") {
        [backend] () throws(CairnError) in
        try await backend.volume().headVersion
      }
      // In degraded mode `volume()` answers from the node cache: that is not the head.
      guard isMetadataConnected else {
        throw VFSError(
          .unavailable,
          "cannot reload to the head: the metadata service is unreachable (a version cached on this node can be named with --version)")
      }
    }
    lock.lock()
    let staged = ops
    let from = version
    let queued = queue.count
    lock.unlock()
    guard queued == 0 else { throw VFSError(.unavailable, "\(queued) queued commit(s) must be applied before a reload") }
    if (mode ?? defaultMode) == .strict && !staged.isEmpty && destination != from {
      let changed = try Bridge.wait(timeoutSeconds: config.operationTimeoutSeconds, "diffing versions") {
        [backend] () throws(CairnError) in
        try await backend.diff(from: min(from, destination), to: max(from, destination))
      }
      let stagedPaths = staged.flatMap(\.paths)
      let conflicts = changed.map(\.path).filter { p in stagedPaths.contains { p.isWithin($0) || $0.isWithin(p) } }
      if !conflicts.isEmpty {
        throw VFSError(
          .conflict, "reload to version \(destination) conflicts with staged changes",
          details: Set(conflicts.map(\.rawValue)).sorted())
      }
    }
    if destination > from { rememberMove(from: from, to: destination, changedPaths: nil) }
    let dropped = try rebuild(to: destination, replaying: staged)
    lock.lock()
    pinSource = nil
    lock.unlock()
    if !dropped.isEmpty {
      logger.warning("staged changes that no longer apply were dropped", metadata: ["changes": "\(dropped)"])
    }
    return destination
  }

  /// Builds the tree of `target`, re-applies `replaying`, swaps it in and rewrites the journal.
  /// Caller holds the gate exclusively. Returns descriptions of ops that no longer apply.
  func rebuild(to target: UInt64, replaying: [StagedOp]) throws(VFSError) -> [String] {
    lock.lock()
    let newGeneration = generation + 1
    let rootAttributes = root.attributes
    lock.unlock()
    let newRoot = Node(
      id: Self.rootId, kind: .directory, attributes: rootAttributes, path: .root, version: target,
      generation: newGeneration)
    newRoot.listingSource = .root
    try load(newRoot)
    lock.lock()
    let queued = queue
    lock.unlock()
    for entry in queued {
      for change in entry.changes {
        do throws(VFSError) {
          try locked { try applyQueued(change, root: newRoot) }
        } catch {
          logger.warning(
            "a queued change does not apply to the local tree (the cluster decides when it is sent)",
            metadata: ["key": "\(entry.key)", "change": "\(change)", "error": "\(error.message)"])
        }
      }
    }
    var kept: [StagedOp] = []
    var dropped: [String] = []
    for op in replaying {
      do throws(VFSError) {
        try locked { try apply(op, root: newRoot) }
        kept.append(op)
      } catch {
        dropped.append("\(op): \(error.message)")
      }
    }
    lock.lock()
    root = newRoot
    nodes[Self.rootId] = newRoot
    version = target
    generation = newGeneration
    ops = kept
    if let pending = pendingCommit, pending.opCount != kept.count || kept.count != replaying.count { pendingCommit = nil }
    var records: [JournalRecord] = [.header(volume: config.volume.rawValue, baseVersion: target, blockBytes: blockBytes)]
    records += queue.map { .queued($0) }
    for file in stagedFiles.values.sorted(by: { $0.stagingId < $1.stagingId }) where !file.isDead {
      records.append(.stage(stagingId: file.stagingId, base: file.base, attributes: file.attributes))
      for k in file.localBlocks.sorted() { records.append(.blockLocal(stagingId: file.stagingId, index: k)) }
    }
    records += kept.map { .op($0) }
    if let pending = pendingCommit { records.append(.commitStarted(key: pending.key)) }
    lock.unlock()
    try journal.replace(with: records)
    return dropped
  }

  // MARK: Recovery

  /// Rebuilds the staging state a crashed daemon left: staged files from their records and
  /// staging files, then the ops on top of the version they were made on.
  func recover(_ records: [JournalRecord]) throws(VFSError) {
    var recoveredOps: [StagedOp] = []
    var lastKey: (String, Int)?
    lock.lock()
    for record in records {
      switch record {
      case .header: break
      case .op(let op): recoveredOps.append(op)
      case .stage(let id, let base, let attributes):
        let path = stagingDirectory + "/files/\(id)"
        let fd = Foundation.open(path, O_RDWR | O_CLOEXEC)
        var st = stat()
        guard fd >= 0, fstat(fd, &st) == 0 else {
          lock.unlock()
          throw VFSError(.io, "staging file '\(path)' named by the journal is missing")
        }
        stagedFiles[id] = StagedFile(
          stagingId: id, fd: fd, path: path, blockBytes: blockBytes, sizeBytes: UInt64(st.st_size), base: base,
          attributes: attributes)
        nextStagingId = max(nextStagingId, id + 1)
      case .fileAttributes(let id, let attributes): stagedFiles[id]?.attributes = attributes
      case .blockLocal(let id, let index): stagedFiles[id]?.localBlocks.insert(index)
      case .truncate(let id, let size):
        if let file = stagedFiles[id] {
          let keep = Int((size + UInt64(blockBytes) - 1) / UInt64(blockBytes))
          if keep < file.base.blocks.count {
            file.base.blocks.removeLast(file.base.blocks.count - keep)
            file.localBlocks = file.localBlocks.filter { $0 < keep }
          }
        }
      case .commitStarted(let key): lastKey = (key, recoveredOps.count)
      case .queued(let entry): queue.append(entry)
      }
    }
    if let lastKey, lastKey.1 == recoveredOps.count { pendingCommit = (lastKey.0, lastKey.1) }
    lock.unlock()
    let dropped = try rebuild(to: version, replaying: recoveredOps)
    logger.notice(
      "recovered staged changes from a previous mount",
      metadata: ["changes": "\(recoveredOps.count)", "dropped": "\(dropped.count)", "version": "\(version)"])
    removeOrphanStagingFiles()
  }

  func removeOrphanStagingFiles() {
    lock.lock()
    let queuedBlocks = Set(queue.flatMap(\.blocks))
    lock.unlock()
    outbox.removeAll(except: queuedBlocks)
    let dir = stagingDirectory + "/files"
    lock.lock()
    let live = Set(stagedFiles.keys.map { "\($0)" })
    lock.unlock()
    for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where !live.contains(name) {
      Foundation.unlink(dir + "/" + name)
    }
  }

  // MARK: Status and control

  public func status() -> MountStatus {
    var health = backend.health()
    var head: UInt64?
    if health?.isConnected != false {
      head = try? Bridge.wait(timeoutSeconds: 3, "reading the head version") { [backend] () throws(CairnError) in
        try await backend.volume().headVersion
      }
      health = backend.health()
      if health?.isConnected == false { head = nil }
    }
    let connection: String
    if let health { connection = health.isConnected ? "connected" : "degraded" } else { connection = head == nil ? "unreachable" : "connected" }
    let iso = ISO8601DateFormatter()
    lock.lock()
    defer { lock.unlock() }
    let live = stagedFiles.values.filter { !$0.isDead }
    let stagedBytes = live.reduce(UInt64(0)) { total, file in
      let localCount = file.localBlocks.count + max(0, Int((file.sizeBytes + UInt64(blockBytes) - 1) / UInt64(blockBytes)) - file.base.blocks.count)
      return total + min(file.sizeBytes, UInt64(localCount) * UInt64(blockBytes))
    }
    return MountStatus(
      volume: config.volume.rawValue, pinnedVersion: version, headVersion: head, isMetadataReachable: head != nil,
      isReadOnly: config.isReadOnly, commitMode: defaultMode == .strict ? "strict" : "merge", stagedChanges: ops.count,
      stagedFiles: live.count, stagedBytes: stagedBytes, lastCommitVersion: lastCommitVersion,
      lastCommitTime: lastCommitTime.map { iso.string(from: $0) }, lastCommitError: lastCommitError,
      cacheDirectory: config.cacheDirectory, controlSocket: controlSocketPath,
      isDegradedModeEnabled: config.isDegradedModeEnabled, connection: connection,
      degradedSince: health?.degradedSince.map { iso.string(from: $0) }, lastError: health?.lastError,
      queuedCommits: queue.count,
      queue: queue.map {
        QueuedCommitStatus(
          key: $0.key, message: $0.message, mode: $0.mode == .strict ? "strict" : "merge", changes: $0.changes.count,
          queuedAt: iso.string(from: Date(timeIntervalSince1970: Double($0.queuedAtNanos) / 1e9)),
          queuedOnVersion: $0.queuedOnVersion)
      }, queueError: queuePausedError?.description, versionSource: pinSource)
  }

  func statusJSON() -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return Array((try? encoder.encode(status())) ?? Data()) + [UInt8(ascii: "\n")]
  }

  /// A command written to `/.cairn/control` by a program inside the mount: `commit [MESSAGE]`,
  /// `commit-strict [MESSAGE]`, `reload [VERSION]`. The write fails (EIO, or EBUSY on a conflict)
  /// when the command fails; reading the file shows the status with the last error.
  func runControl(_ text: String, count: Int) throws(VFSError) -> Int {
    let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
    let verb = line.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
    let rest = line.dropFirst(verb.count).trimmingCharacters(in: .whitespaces)
    switch verb {
    case "commit": try commit(message: rest)
    case "commit-strict": try commit(message: rest, mode: .strict)
    case "reload":
      guard rest.isEmpty || UInt64(rest) != nil else { throw VFSError(.invalid, "reload takes a version number") }
      try reload(to: UInt64(rest))
    default: throw VFSError(.invalid, "unknown control command '\(verb)' (commit, commit-strict, reload)")
    }
    return count
  }

  /// Commits every `intervalSeconds` while changes are staged, backing off (up to 60 s) after a
  /// failure, until `shouldStop` returns true. Runs on the calling thread.
  public func runBackgroundCommits(intervalSeconds: Double, shouldStop: () -> Bool) {
    var delay = intervalSeconds
    var slept = 0.0
    while !shouldStop() {
      Thread.sleep(forTimeInterval: 0.2)
      slept += 0.2
      guard slept >= delay else { continue }
      slept = 0
      guard hasStagedChanges else { continue }
      do {
        try commit(message: "background commit")
        delay = intervalSeconds
      } catch {
        delay = min(60, max(1, delay * 2))
      }
    }
  }
}

/// One batch of blocks being uploaded during a commit.
final class UploadJob: @unchecked Sendable {
  let done = MultiSignal()
  var error: VFSError?
}
