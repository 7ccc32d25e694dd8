import CairnCore
import CairnMetadata
import CairnPlacement
import CairnService
import CairnTransport
import CairnWire
import Foundation
import Logging
import Synchronization

/// Settings of repair (re-replication, drain, bad-copy handling).
public struct RepairOptions: Sendable {
  /// A copy on a server down for less than this still counts; past it the block is re-replicated.
  public var graceSeconds: Double = 300
  /// Bytes copied per second at most, over all repair copies (so foreground traffic keeps its share).
  public var bytesPerSecond: Double = Double(64 << 20)
  /// Copies in flight at most.
  public var concurrency: Int = 4
  /// Pause between two repair passes.
  public var intervalSeconds: Double = 10
  /// Servers with less free space take no new copies.
  public var minFreeBytes: UInt64 = 64 << 20

  public init() {}
}

/// The metadata leader's repair loop. Each pass: confirms reported bad copies with their servers
/// and drops them from the block records; scans every referenced block record and plans repair
/// (`RepairPlanner`); asks target chunk servers to copy blocks from healthy sources (server to
/// server, verified on arrival), rate-limited; records the new locations through the proposer;
/// drops lost and drained locations once enough healthy copies exist (deleting drained copies);
/// and deletes quarantined bad copies once their block is fully repaired. Runs only while
/// `isLeader()` says so.
public final class RepairScheduler: Sendable {
  let service: MetaService
  let options: RepairOptions
  let isLeader: @Sendable () -> Bool
  private let limiter: Mutex<ByteRateLimiter>
  /// Quarantined bad copies per server, deleted once their block is repaired.
  private let pendingPurges = Mutex<[UInt64: Set<BlockAddress>]>([:])
  /// Most copies planned per pass (the rest wait for the next pass).
  static let maxCopiesPerPass = 10_000
  /// Block records read per page while scanning.
  static let scanPageBlocks = 1000

  public init(service: MetaService, options: RepairOptions, isLeader: @escaping @Sendable () -> Bool) {
    precondition(options.concurrency >= 1 && options.bytesPerSecond > 0, "repair needs a positive rate and concurrency")
    self.service = service
    self.options = options
    self.isLeader = isLeader
    limiter = Mutex(
      ByteRateLimiter(
        bytesPerSecond: options.bytesPerSecond, burstBytes: max(options.bytesPerSecond, Double(Limits.maxBlockBytes))))
  }

  /// Starts the loop; cancel the task to stop it.
  public func start() -> Task<Void, Never> {
    LeaderLoop.start(
      name: "repair", intervalSeconds: options.intervalSeconds, isLeader: isLeader, logger: service.logger
    ) { () async throws(CairnError) in try await self.pass() }
  }

  /// One repair pass (public for tests and tools).
  public func pass() async throws(CairnError) {
    let records = try await service.read { r throws(CairnError) in try r.chunkServers() }
    let servers = await service.registry.health(records)
    let addresses = Dictionary(records.map { ($0.id, $0.address) }, uniquingKeysWith: { a, _ in a })
    try await confirmReports(servers: servers, addresses: addresses)
    var counts = BlockHealthStatus()
    var work: [(BlockAddress, UInt32, RepairPlan.Copy)] = []
    var drops: [BlockPlacement] = []
    var perServer: [UInt64: UInt64] = [:]
    let purging = pendingPurges.withLock { $0.values.reduce(into: Set<BlockAddress>()) { $0.formUnion($1) } }
    var purgeable = purging
    var after: BlockAddress?
    while true {
      let start = after
      let page = try await service.read { r throws(CairnError) in
        try r.blocks(after: start, limit: Self.scanPageBlocks)
      }
      guard let last = page.last else { break }
      after = last.0
      for (address, record) in page where record.referenceCount > 0 && !record.isDeleting {
        let plan = RepairPlanner.plan(
          address, length: record.length, locations: record.locations, replicas: Int(record.replicas ?? 3),
          servers: servers, graceNanos: UInt64(options.graceSeconds * 1e9), minFreeBytes: options.minFreeBytes)
        counts.blocks += 1
        counts.replicas += UInt64(record.locations.count)
        for id in record.locations { perServer[id, default: 0] += 1 }
        if plan.isUnderReplicated { counts.underReplicated += 1 }
        if !plan.unreachable.isEmpty || !plan.lost.isEmpty { counts.unreachable += 1 }
        if plan.hasNoSource { counts.unavailable += 1 }
        if work.count < Self.maxCopiesPerPass { work += plan.copies.map { (address, record.length, $0) } }
        if !plan.droppable.isEmpty {
          drops.append(BlockPlacement(address: address, length: record.length, servers: plan.droppable))
        }
        if purging.contains(address), plan.healthy.count < plan.wanted { purgeable.remove(address) }
      }
    }
    counts.repairQueued = UInt64(work.count)
    let pendingCorrupt = UInt64(purging.count - purgeable.count)
    await service.maintenance.update {
      $0.blocks = counts.blocks
      $0.replicas = counts.replicas
      $0.underReplicated = counts.underReplicated
      $0.unreachable = counts.unreachable
      $0.unavailable = counts.unavailable
      $0.repairQueued = counts.repairQueued
      $0.corruptPendingRepair = pendingCorrupt
    }
    await service.maintenance.setRecordedPerServer(perServer)
    try await copy(work, addresses: addresses)
    try await drop(drops, servers: servers, addresses: addresses)
    await purge(purgeable, addresses: addresses)
    await service.maintenance.update {
      $0.repairPasses += 1
      $0.lastPassUnixMillis = UInt64(Date().timeIntervalSince1970 * 1000)
    }
  }

  /// Asks each reported server to re-verify the reported blocks; copies that are corrupt or
  /// missing are dropped from the records (repair then replaces them) and their quarantined files
  /// are kept until the block is fully repaired.
  private func confirmReports(servers: [ServerHealth], addresses: [UInt64: String]) async throws(CairnError) {
    for (serverId, reported) in await service.maintenance.takeReports() {
      guard let address = addresses[serverId], servers.contains(where: { $0.serverId == serverId && $0.isUp }) else {
        continue
      }
      let blocks = reported.sorted()
      var bad: [BlockAddress] = []
      do throws(CairnError) {
        let reply = try await call(address, .scrub(blocks), timeout: .seconds(60))
        guard case .scrubbed(let healthy) = reply, healthy.count == blocks.count else { continue }
        bad = zip(blocks, healthy).filter { !$0.1 }.map(\.0)
      } catch {
        service.logger.warning("could not confirm bad copies", metadata: ["server": "\(serverId)", "error": "\(error)"])
        continue
      }
      guard !bad.isEmpty else { continue }
      _ = try await service.proposer.propose(
        .removeBlockLocations(bad.map { BlockPlacement(address: $0, length: 0, servers: [serverId]) }))
      pendingPurges.withLock { $0[serverId, default: []].formUnion(bad) }
      let count = UInt64(bad.count)
      await service.maintenance.update { $0.corruptReplicas += count }
      service.logger.warning("bad block copies dropped for repair", metadata: ["server": "\(serverId)", "count": "\(count)"])
    }
  }

  /// Makes the planned copies, `options.concurrency` at a time within the byte rate, recording
  /// each batch of new locations through the proposer.
  private func copy(_ work: [(BlockAddress, UInt32, RepairPlan.Copy)], addresses: [UInt64: String]) async throws(CairnError) {
    let batchSize = options.concurrency * 8
    for start in stride(from: 0, to: work.count, by: batchSize) {
      guard isLeader(), !Task.isCancelled else { return }
      let batch = Array(work[start..<min(work.count, start + batchSize)])
      let lanes = options.concurrency
      let placed = await withTaskGroup(of: [BlockPlacement].self) { group in
        for lane in 0..<lanes {
          group.addTask {
            var done: [BlockPlacement] = []
            for index in stride(from: lane, to: batch.count, by: lanes) {
              let (block, length, copy) = batch[index]
              if await self.copyOne(block, length: length, copy, addresses: addresses) {
                done.append(BlockPlacement(address: block, length: length, servers: [copy.target]))
              }
            }
            return done
          }
        }
        var all: [BlockPlacement] = []
        for await done in group { all += done }
        return all
      }
      if !placed.isEmpty { _ = try await service.proposer.propose(.recordBlockLocations(placed)) }
      let copied = UInt64(placed.count)
      let bytes = placed.reduce(UInt64(0)) { $0 + UInt64($1.length) }
      let failed = UInt64(batch.count - placed.count)
      await service.maintenance.update {
        $0.repairCopiesDone += copied
        $0.repairBytesCopied += bytes
        $0.repairCopiesFailed += failed
        $0.repairQueued -= min($0.repairQueued, UInt64(batch.count))
      }
    }
  }

  private func copyOne(_ block: BlockAddress, length: UInt32, _ copy: RepairPlan.Copy, addresses: [UInt64: String]) async
    -> Bool
  {
    let wait = limiter.withLock { $0.take(Int(length), nowNanos: monotonicNanos()) }
    if wait > 0 { try? await Task.sleep(for: .nanoseconds(Int(wait))) }
    guard let target = addresses[copy.target] else { return false }
    let sources = copy.sources.compactMap { addresses[$0] }
    do {
      let reply = try await call(target, .copy(block, length: length, sources: sources), timeout: .seconds(120))
      return reply == .stored
    } catch {
      service.logger.info(
        "repair copy failed", metadata: ["block": "\(block.shortHex)", "target": "\(copy.target)", "error": "\(error)"])
      return false
    }
  }

  /// Drops lost and drained locations, then deletes the drained copies from their (up) servers.
  private func drop(_ drops: [BlockPlacement], servers: [ServerHealth], addresses: [UInt64: String]) async throws(CairnError) {
    for start in stride(from: 0, to: drops.count, by: 1000) {
      let batch = Array(drops[start..<min(drops.count, start + 1000)])
      _ = try await service.proposer.propose(.removeBlockLocations(batch))
      var deletions: [UInt64: [BlockAddress]] = [:]
      for placement in batch {
        for id in placement.servers where servers.contains(where: { $0.serverId == id && $0.isUp }) {
          deletions[id, default: []].append(placement.address)
        }
      }
      for (id, blocks) in deletions {
        guard let address = addresses[id] else { continue }
        do throws(CairnError) { _ = try await call(address, .delete(blocks), timeout: .seconds(60)) } catch {
          service.logger.info("could not delete moved copies", metadata: ["server": "\(id)", "error": "\(error)"])
        }
      }
    }
  }

  /// Deletes the quarantined files of bad copies whose block is fully repaired (or gone).
  private func purge(_ repaired: Set<BlockAddress>, addresses: [UInt64: String]) async {
    let due = pendingPurges.withLock { pending in
      var due: [UInt64: [BlockAddress]] = [:]
      for (id, blocks) in pending {
        let ready = blocks.intersection(repaired)
        if !ready.isEmpty { due[id] = ready.sorted() }
      }
      return due
    }
    for (id, blocks) in due {
      guard let address = addresses[id] else { continue }
      do throws(CairnError) {
        _ = try await call(address, .purgeQuarantine(blocks), timeout: .seconds(60))
        pendingPurges.withLock { $0[id]?.subtract(blocks) }
      } catch {
        service.logger.info("could not delete quarantined copies", metadata: ["server": "\(id)", "error": "\(error)"])
      }
    }
  }

  func call(_ address: String, _ request: ChunkRequest, timeout: Duration) async throws(CairnError) -> ChunkResponse {
    let connection = try await service.pool.connection(to: try ServerAddress(parsing: address))
    let reply = try await connection.call(.chunk, payload: WireCodec.encode(request), timeout: timeout)
    return try WireCodec.decode(ChunkResponse.self, from: reply.payload)
  }
}
