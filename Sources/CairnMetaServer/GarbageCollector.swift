import CairnCore
import CairnMetadata
import CairnPlacement
import CairnService
import CairnTransport
import CairnWire
import Logging

/// Settings of garbage collection.
public struct GarbageOptions: Sendable {
  /// How long a block must stay unreferenced (or, for an orphan, unwritten on its chunk server)
  /// before it is deleted: protects uploads for commits still in flight.
  public var graceSeconds: Double = 3600
  /// Pause between two passes.
  public var intervalSeconds: Double = 60
  /// Also collect orphans: blocks chunk servers hold that no record mentions (uploads never
  /// committed). Costs an inventory of every server per pass.
  public var collectsOrphans = true

  public init() {}
}

/// The metadata leader's garbage collector. Every decision to delete is a log command
/// (`collectGarbage`): it fences only blocks still at reference count zero whose zero-time is past
/// the grace, or orphans that still have no record; a fenced block can no longer be referenced
/// (commits naming it are refused retryably). Only then are its copies deleted from the chunk
/// servers, and the record forgotten with `forgetBlocks`, which bumps the epoch that makes older
/// placements stale. Runs only while `isLeader()` says so.
public final class GarbageCollector: Sendable {
  let service: MetaService
  let options: GarbageOptions
  let isLeader: @Sendable () -> Bool
  /// Blocks named per command.
  static let batchBlocks = 1000
  /// Most blocks handled per pass (the rest wait for the next pass).
  static let maxBlocksPerPass = 100_000

  public init(service: MetaService, options: GarbageOptions, isLeader: @escaping @Sendable () -> Bool) {
    precondition(options.graceSeconds >= 0 && options.intervalSeconds > 0, "garbage collection needs sane timings")
    self.service = service
    self.options = options
    self.isLeader = isLeader
  }

  /// Starts the loop; cancel the task to stop it.
  public func start() -> Task<Void, Never> {
    LeaderLoop.start(
      name: "garbage collection", intervalSeconds: options.intervalSeconds, isLeader: isLeader, logger: service.logger
    ) { () async throws(CairnError) in try await self.pass() }
  }

  /// One pass: stamp or fence unreferenced blocks, fence old orphans, delete fenced blocks'
  /// copies, forget them.
  public func pass() async throws(CairnError) {
    let graceNanos = Int64(options.graceSeconds * 1e9)
    var candidates: [BlockAddress] = []
    var after: BlockAddress?
    while candidates.count < Self.maxBlocksPerPass {
      let start = after
      let page = try await service.read { r throws(CairnError) in
        try r.unreferencedBlocks(after: start, limit: Self.batchBlocks)
      }
      guard let last = page.last else { break }
      after = last
      candidates += page
    }
    for start in stride(from: 0, to: candidates.count, by: Self.batchBlocks) {
      guard isLeader() else { return }
      let batch = Array(candidates[start..<min(candidates.count, start + Self.batchBlocks)])
      _ = try await service.proposer.propose(
        .collectGarbage(unreferenced: batch, orphans: [], graceNanos: graceNanos, timeNanos: service.clock.nowNanos()))
    }
    let records = try await service.read { r throws(CairnError) in try r.chunkServers() }
    let servers = await service.registry.statuses(records)
    if options.collectsOrphans { try await fenceOrphans(servers) }
    try await deleteFenced(servers)
  }

  /// Finds blocks on up servers older than the grace that have no record, and fences them.
  private func fenceOrphans(_ servers: [ChunkServerStatus]) async throws(CairnError) {
    var orphans: [BlockAddress: [UInt64]] = [:]
    for server in servers where server.isUp {
      var after: BlockAddress?
      while orphans.count < Self.maxBlocksPerPass {
        let start = after
        let page: [StoredBlock]
        do throws(CairnError) {
          guard case .inventory(let items) = try await call(server.address, .inventory(after: start, limit: 5000)) else {
            break
          }
          page = items
        } catch {
          service.logger.info("inventory failed", metadata: ["server": "\(server.serverId)", "error": "\(error)"])
          break
        }
        guard let last = page.last else { break }
        after = last.address
        let old = page.filter { Double($0.ageSeconds) >= options.graceSeconds }.map(\.address)
        let known = try await service.read { r throws(CairnError) in try old.map { a throws(CairnError) in try r.blockRecord(a) != nil } }
        for (address, isKnown) in zip(old, known) where !isKnown { orphans[address, default: []].append(server.serverId) }
      }
    }
    let list = orphans.keys.sorted().map { BlockPlacement(address: $0, length: 0, servers: orphans[$0] ?? []) }
    for start in stride(from: 0, to: list.count, by: Self.batchBlocks) {
      guard isLeader() else { return }
      let batch = Array(list[start..<min(list.count, start + Self.batchBlocks)])
      _ = try await service.proposer.propose(
        .collectGarbage(
          unreferenced: [], orphans: batch, graceNanos: Int64(options.graceSeconds * 1e9),
          timeNanos: service.clock.nowNanos()))
    }
  }

  /// Deletes the copies of every fenced block from its up servers, then forgets the blocks whose
  /// every reachable copy is gone (a copy on a down server becomes an orphan, collected later).
  private func deleteFenced(_ servers: [ChunkServerStatus]) async throws(CairnError) {
    var fenced: [(BlockAddress, [UInt64])] = []
    var pending: UInt64 = 0
    var after: BlockAddress?
    while fenced.count < Self.maxBlocksPerPass {
      let start = after
      let page = try await service.read { r throws(CairnError) in
        let addresses = try r.unreferencedBlocks(after: start, limit: Self.batchBlocks)
        return try addresses.map { a throws(CairnError) in (a, try r.blockRecord(a)) }
      }
      guard let last = page.last else { break }
      after = last.0
      for (address, record) in page {
        guard let record else { continue }
        if record.isDeleting { fenced.append((address, record.locations)) } else { pending += 1 }
      }
    }
    let up = Dictionary(servers.filter(\.isUp).map { ($0.serverId, $0.address) }, uniquingKeysWith: { a, _ in a })
    for start in stride(from: 0, to: fenced.count, by: Self.batchBlocks) {
      guard isLeader() else { return }
      let batch = fenced[start..<min(fenced.count, start + Self.batchBlocks)]
      var byServer: [UInt64: [BlockAddress]] = [:]
      for (address, locations) in batch {
        for id in locations where up[id] != nil { byServer[id, default: []].append(address) }
      }
      var failed = Set<BlockAddress>()
      for (id, blocks) in byServer {
        guard let address = up[id] else { continue }
        do throws(CairnError) {
          _ = try await call(address, .delete(blocks))
        } catch {
          failed.formUnion(blocks)
          service.logger.info("garbage delete failed", metadata: ["server": "\(id)", "error": "\(error)"])
        }
      }
      let done = batch.map(\.0).filter { !failed.contains($0) }
      guard !done.isEmpty else { continue }
      _ = try await service.proposer.propose(.forgetBlocks(done))
      let count = UInt64(done.count)
      await service.maintenance.update { $0.garbageCollected += count }
      service.logger.info("garbage collected", metadata: ["blocks": "\(count)"])
    }
    let stillPending = pending
    await service.maintenance.update { $0.garbagePending = stillPending }
  }

  func call(_ address: String, _ request: ChunkRequest) async throws(CairnError) -> ChunkResponse {
    let connection = try await service.pool.connection(to: try ServerAddress(parsing: address))
    let reply = try await connection.call(.chunk, payload: WireCodec.encode(request), timeout: .seconds(60))
    return try WireCodec.decode(ChunkResponse.self, from: reply.payload)
  }
}
