import CairnCore
import CairnKV
import CairnMetadata
import CairnPlacement
import CairnService
import CairnTransport
import CairnWire
import Logging
import NIOCore

/// The metadata server's request handler: decodes `MetaRequest`s, answers reads from the local
/// store, and turns writes into `MetadataCommand`s for the proposer. Before a commit is proposed
/// it checks that every newly referenced block is durable on a write quorum of chunk servers.
public final class MetaService: RequestHandler {
  public let serverId: UInt64
  let reader: MetadataReader
  let proposer: any CommandProposer
  let registry: ChunkRegistry
  let pool: ConnectionPool
  let clock: any WallClock
  let logger: Logger
  let appliedIndex: @Sendable () -> UInt64
  /// Bad-copy reports and block-health counters shared with repair and garbage collection.
  public let maintenance = MaintenanceState()

  public init(
    serverId: UInt64, reader: MetadataReader, proposer: any CommandProposer, registry: ChunkRegistry,
    clock: any WallClock, logger: Logger, appliedIndex: @escaping @Sendable () -> UInt64
  ) {
    self.serverId = serverId
    self.reader = reader
    self.proposer = proposer
    self.registry = registry
    pool = ConnectionPool(connectionsPerAddress: 1, connectTimeout: .seconds(2))
    self.clock = clock
    self.logger = logger
    self.appliedIndex = appliedIndex
  }

  /// Whether this server leads (may run leader-only work such as repair scheduling).
  public var isLeader: Bool { proposer.isLeader }

  public func handle(_ request: IncomingRequest) async throws(CairnError) -> OutgoingReply {
    guard request.kind == .meta else {
      throw CairnError(.protocolError, "a metadata server does not answer \(request.kind) requests")
    }
    let (message, isCompact) = try MetaRequest.decode(payload: request.payload)
    let response = try await respond(to: message)
    return OutgoingReply(payload: response.payload(compact: isCompact))
  }

  /// The hot path of a commit, answered without a task: a `.commit` whose changes reference no
  /// blocks (nothing to check on the chunk servers) goes straight to the proposer, on the
  /// connection's event loop. Anything else (and a proposer that cannot) takes `handle`.
  public func handleInline(
    _ request: IncomingRequest, reply: @escaping @Sendable (Result<OutgoingReply, CairnError>) -> Void
  ) -> Bool {
    guard let (message, isCompact) = try? MetaRequest.decode(payload: request.payload),
      case .commit(let commit) = message, !Self.referencesBlocks(commit)
    else { return false }
    return proposer.proposeInline(.commit(commit, placements: [], timeNanos: clock.nowNanos())) { [self] result in
      reply(
        result.flatMap { (r: MetadataResult) -> Result<OutgoingReply, CairnError> in
          Result { () throws(CairnError) -> OutgoingReply in
            OutgoingReply(payload: try commitResult(r).payload(compact: isCompact))
          }
        })
    }
  }

  /// Whether any change of `commit` puts a file with blocks.
  static func referencesBlocks(_ commit: CommitRequest) -> Bool {
    commit.changes.contains { change in
      if case .put(_, .file(let manifest, _)) = change { return manifest.blocks.contains { $0.address != nil } }
      return false
    }
  }

  func read<T: Sendable>(_ body: @escaping @Sendable (MetadataReader) throws(CairnError) -> T) async throws(CairnError)
    -> T
  {
    let reader = self.reader
    return try await Blocking.run { () throws(CairnError) -> T in try body(reader) }
  }

  func respond(to message: MetaRequest) async throws(CairnError) -> MetaResponse {
    try await checkConsistency(for: message)
    return try await answer(message)
  }

  /// Where a request may be answered (issue "Raft"): writes only on the leader; head reads after a
  /// ReadIndex barrier (linearizable, so on the leader); reads of an explicit version on any
  /// replica that has applied it; status and heartbeats anywhere.
  func checkConsistency(for message: MetaRequest) async throws(CairnError) {
    switch message {
    case .createVolume, .deleteVolume, .renameVolume, .commit, .rollback, .fork:
      try proposer.requireLeader()
    case .lookup(let name, _, let version?), .list(let name, _, let version?, _, _), .diff(let name, _, let version):
      // Versions are immutable: any replica that has applied this one answers without a barrier.
      let head = try? await read { r throws(CairnError) in try r.volume(name).headVersion }
      if let head, head >= version { return }
      if proposer.isLeader { return try await proposer.readBarrier() }
      try proposer.requireLeader()
    case .listVolumes, .getVolume, .lookup, .list, .history, .findBlocks, .locateBlocks:
      try await proposer.readBarrier()
    case .reportBadBlocks, .drainChunkServer:
      // Only the leader repairs: a follower refuses, and the reporter tries the leader.
      try proposer.requireLeader()
    case .clusterStatus, .registerChunkServer, .heartbeat:
      return
    }
  }

  /// Answers `message` from the local state (after `checkConsistency`).
  func answer(_ message: MetaRequest) async throws(CairnError) -> MetaResponse {
    let now = clock.nowNanos()
    switch message {
    case .createVolume(let name, let settings):
      try settings.validate()
      return try volumeResult(await proposer.propose(.createVolume(name, settings, timeNanos: now)))
    case .deleteVolume(let name):
      _ = try await proposer.propose(.deleteVolume(name))
      return .ok
    case .renameVolume(let from, let to):
      return try volumeResult(await proposer.propose(.renameVolume(from: from, to: to, timeNanos: now)))
    case .listVolumes:
      return .volumes(try await read { r throws(CairnError) in try r.volumes() })
    case .getVolume(let name):
      return .volume(try await read { r throws(CairnError) in try r.volume(name) })
    case .lookup(let name, let path, let version):
      return .entry(try await read { r throws(CairnError) in try r.lookup(name, path: path, version: version) })
    case .list(let name, let path, let version, let after, let limit):
      let (v, entries) = try await read { r throws(CairnError) in
        try r.list(name, path: path, version: version, after: after, limit: Int(limit))
      }
      return .listing(version: v, entries: entries)
    case .commit(let commit):
      return try commitResult(await commitCheckingBlocks(commit, timeNanos: now))
    case .history(let name, let limit):
      return .history(try await read { r throws(CairnError) in try r.history(name, limit: Int(min(limit, 100_000))) })
    case .diff(let name, let from, let to):
      return .diff(try await read { r throws(CairnError) in try r.diff(name, from: from, to: to) })
    case .rollback(let name, let version, let author):
      return try commitResult(
        await proposer.propose(.rollback(name, toVersion: version, author: author, timeNanos: now)))
    case .fork(let name, let version, let newName, let author):
      let v: UInt64
      if let version {
        v = version
      } else {
        v = try await read { r throws(CairnError) in try r.volume(name).headVersion }
      }
      return try volumeResult(
        await proposer.propose(.fork(name, version: v, newName: newName, author: author, timeNanos: now)))
    case .findBlocks(let addresses, let quorum):
      guard addresses.count <= Limits.maxListItems else { throw .invalid("too many addresses in one request") }
      return .blocksKnown(try await read { r throws(CairnError) in try r.blocksKnown(addresses, quorum: Int(quorum)) })
    case .locateBlocks(let addresses):
      guard addresses.count <= Limits.maxListItems else { throw .invalid("too many addresses in one request") }
      return .locations(
        try await read { r throws(CairnError) in
          var out: [[UInt64]] = []
          for a in addresses { out.append(try r.blockRecord(a)?.locations ?? []) }
          return out
        })
    case .clusterStatus:
      let records = try await read { r throws(CairnError) in try r.chunkServers() }
      let volumes = try await read { r throws(CairnError) in try r.volumes().count }
      return .cluster(
        ClusterStatus(
          metaServerId: serverId, isLeader: proposer.isLeader, appliedIndex: appliedIndex(),
          volumeCount: UInt64(volumes),
          chunkServers: await withMaintenanceCounts(registry.statuses(records)),
          blocks: proposer.isLeader ? await maintenance.health : nil))
    case .registerChunkServer(let registration):
      let _ = try ServerAddress(parsing: registration.address)
      let records = try await read { r throws(CairnError) in try r.chunkServers() }
      let existing = records.first { $0.id == registration.serverId }
      if existing?.address != registration.address || existing?.zone != registration.zone {
        let record = ChunkServerRecord(
          id: registration.serverId, address: registration.address, zone: registration.zone, registeredNanos: now)
        _ = try await proposer.propose(.registerChunkServer(record))
        logger.info(
          "chunk server registered",
          metadata: ["server": "\(registration.serverId)", "address": "\(registration.address)"])
      }
      return .registered(serverId: registration.serverId)
    case .heartbeat(let heartbeat):
      await registry.record(heartbeat)
      return .ok
    case .reportBadBlocks(let serverId, let addresses, let reason):
      guard addresses.count <= Limits.maxListItems else { throw .invalid("too many addresses in one request") }
      await maintenance.report(serverId: serverId, addresses: addresses)
      logger.warning(
        "bad block copies reported",
        metadata: ["server": "\(serverId)", "count": "\(addresses.count)", "reason": "\(reason)"])
      return .ok
    case .drainChunkServer(let id, let isDraining):
      _ = try await proposer.propose(.setChunkServerDraining(id, isDraining: isDraining))
      logger.info("chunk server drain \(isDraining ? "started" : "stopped")", metadata: ["server": "\(id)"])
      return .ok
    }
  }

  private func withMaintenanceCounts(_ statuses: [ChunkServerStatus]) async -> [ChunkServerStatus] {
    let recorded = await maintenance.recordedPerServer
    guard await maintenance.hasCountedServers else { return statuses }
    return statuses.map {
      var s = $0
      s.recordedBlocks = recorded[s.serverId] ?? 0
      return s
    }
  }

  private func volumeResult(_ result: MetadataResult) throws(CairnError) -> MetaResponse {
    guard case .volume(let info) = result else { throw CairnError(.internalError, "unexpected result \(result)") }
    return .volume(info)
  }

  private func commitResult(_ result: MetadataResult) throws(CairnError) -> MetaResponse {
    guard case .commit(let commit) = result else { throw CairnError(.internalError, "unexpected result \(result)") }
    return .commit(commit)
  }
}
