import CairnCore
import CairnPlacement
import CairnTransport
import CairnWire
import NIOCore
import Synchronization

/// Moves blocks between this client and the chunk servers: replicated, quorum-acknowledged
/// uploads of only the blocks the cluster lacks, and verified downloads that fall back to other
/// replicas when a copy is missing, unreachable or corrupt.
public final class BlockTransfer: Sendable {
  let meta: MetaClient
  let pool: ConnectionPool
  let servers: ServerDirectory
  /// Uploads in flight or done by this client, so files sharing blocks upload them once.
  let uploads = UploadRegistry()
  /// Recent read latency per server: fastest replica first, and the hedging threshold.
  let latencies = Mutex(LatencyTracker())
  /// Ask a second replica when the first is slower than the threshold (see `fetch`).
  public let hedgedReads: Bool

  init(meta: MetaClient, pool: ConnectionPool, servers: ServerDirectory, hedgedReads: Bool = true) {
    self.meta = meta
    self.pool = pool
    self.servers = servers
    self.hedgedReads = hedgedReads
  }

  /// Counters of one upload, for progress output and dedup checks.
  public struct UploadStats: Sendable {
    public var blocksUploaded = 0
    public var bytesUploaded = 0
    public var blocksSkipped = 0
  }

  /// Makes every block durable on a write quorum of its placement. Blocks the metadata already
  /// knows as durable, or that the target servers already hold, are not sent again.
  public func upload(_ blocks: [(BlockAddress, [UInt8])], replicas: Int) async throws(CairnError) -> UploadStats {
    var stats = UploadStats()
    guard !blocks.isEmpty else { return stats }
    let quorum = Quorum.write(replicas: replicas)
    var unique: [BlockAddress: [UInt8]] = [:]
    for (a, b) in blocks { unique[a] = b }
    let addresses = unique.keys.sorted()
    var known = [Bool](repeating: false, count: addresses.count)
    do throws(CairnError) {
      guard case .blocksKnown(let flags) = try await meta.call(.findBlocks(addresses, quorum: UInt8(quorum))),
        flags.count == addresses.count
      else { throw CairnError(.protocolError, "unexpected reply to findBlocks") }
      known = flags
    } catch {
      // Metadata down: each target server is asked whether it holds the block before it is sent.
      guard error.code == .unavailable || error.code == .timeout || error.code == .notLeader else { throw error }
    }
    let needed = zip(addresses, known).filter { !$0.1 }.map(\.0)
    stats.blocksSkipped = addresses.count - needed.count
    guard !needed.isEmpty else { return stats }
    let live = try await servers.writableServers()
    guard live.count >= quorum else {
      throw CairnError(
        .unavailable,
        "only \(live.count) chunk server(s) are up with free space and not draining; a write needs \(quorum) durable copies (R=\(replicas))")
    }
    let targets = live.map { PlacementTarget(serverId: $0.serverId, zone: $0.zone) }
    let results = await withTaskGroup(of: Result<(Int, Int), CairnError>.self) { group in
      for address in needed {
        let bytes = unique[address] ?? []
        let (placed, spares) = Self.placementOrder(address, replicas: replicas, among: targets)
        group.addTask {
          let (task, isOwner) = await self.uploads.task(for: address) {
            let (outcome, tried) = await Self.putWithSpares(placed: placed, spares: spares, quorum: quorum) { ids, q in
              await self.putReplicated(address, bytes, on: ids, quorum: q)
            }
            return outcome.result(address, bytes: bytes.count, quorum: quorum, tried: tried)
          }
          let result = await task.value
          // Only uploads in flight are shared: a finished one may have been garbage-collected
          // since (if its commit never came), so the next upload asks the servers again.
          if isOwner { await self.uploads.forget(address) }
          // Only the task that sent the bytes counts them.
          return isOwner ? result : result.map { _ in (0, 0) }
        }
      }
      var out: [Result<(Int, Int), CairnError>] = []
      for await r in group { out.append(r) }
      return out
    }
    for r in results {
      switch r {
      case .success(let (sent, bytes)):
        stats.blocksUploaded += sent > 0 ? 1 : 0
        stats.blocksSkipped += sent > 0 ? 0 : 1
        stats.bytesUploaded += bytes
      case .failure(let e): throw e
      }
    }
    return stats
  }

  /// A block's rendezvous placement on `targets`, and the other servers in rendezvous order
  /// (the spares that top up a write quorum when placed servers fail).
  static func placementOrder(_ address: BlockAddress, replicas: Int, among targets: [PlacementTarget]) -> (
    placed: [UInt64], spares: [UInt64]
  ) {
    let placed = Rendezvous.place(address, replicas: replicas, among: targets).map(\.serverId)
    let spares = Rendezvous.ranked(address, among: targets).map(\.serverId).filter { !placed.contains($0) }
    return (placed, spares)
  }

  /// `placementOrder` over chunk server statuses (as `writableServers` lists them).
  static func placementOrder(_ address: BlockAddress, replicas: Int, among servers: [ChunkServerStatus]) -> (
    placed: [UInt64], spares: [UInt64]
  ) {
    placementOrder(address, replicas: replicas, among: servers.map { PlacementTarget(serverId: $0.serverId, zone: $0.zone) })
  }

  /// Puts a block on its placed servers, then, while fewer than `quorum` copies are durable
  /// (placed servers dead, full, or refusing), on further spares in rendezvous order, as many at
  /// a time as copies are missing, until the quorum is met or no spare is left (repair spreads
  /// the copies later). Returns what was achieved and how many servers were tried.
  static func putWithSpares(
    placed: [UInt64], spares: [UInt64], quorum: Int, put: ([UInt64], Int) async -> PutOutcome
  ) async -> (PutOutcome, tried: Int) {
    var outcome = await put(placed, quorum)
    var tried = placed.count
    var rest = spares[...]
    while outcome.durable < quorum, !rest.isEmpty {
      let missing = quorum - outcome.durable
      let next = Array(rest.prefix(missing))
      rest = rest.dropFirst(next.count)
      tried += next.count
      outcome.add(await put(next, missing))
    }
    return (outcome, tried)
  }

  /// What one round of puts of a block achieved.
  struct PutOutcome {
    var durable = 0
    var sent = 0
    var errors: [String] = []

    mutating func add(_ other: PutOutcome) {
      durable += other.durable
      sent += other.sent
      errors += other.errors
    }

    /// Success once `quorum` copies are durable; returns servers sent the bytes and bytes sent.
    func result(_ address: BlockAddress, bytes: Int, quorum: Int, tried: Int) -> Result<(Int, Int), CairnError> {
      if durable >= quorum { return .success((sent, sent * bytes)) }
      let code: CairnError.Code = errors.contains { $0.contains("full") } ? .noSpace : .unavailable
      return .failure(
        CairnError(
          code, "block \(address.shortHex) is durable on \(durable) server(s) (\(tried) tried), \(quorum) needed",
          details: errors))
    }
  }

  /// Puts one block on `serverIds` in parallel (skipping servers that already hold it). Returns
  /// when every server has answered, or, once `quorum` copies are durable, when the stragglers
  /// have had twice the time the quorum took (at least 0.5 s): a healthy cluster gets every
  /// copy, while a stopped or very slow replica does not hold the write (its put finishes or
  /// times out in the background, and repair adds a missing copy later).
  private func putReplicated(_ address: BlockAddress, _ bytes: [UInt8], on serverIds: [UInt64], quorum: Int) async
    -> PutOutcome
  {
    guard !serverIds.isEmpty else { return PutOutcome() }
    enum Event: Sendable {
      case answer(UInt64, Result<Bool, CairnError>)
      case stragglersDue
    }
    let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
    let start = ContinuousClock.now
    for id in serverIds {
      Task {
        do {
          let connection = try await self.servers.connection(to: id, pool: self.pool)
          let hasReply = try await connection.call(
            .chunk, payload: WireCodec.encode(ChunkRequest.has([address])), timeout: .seconds(10))
          if case .has(let flags) = try WireCodec.decode(ChunkResponse.self, from: hasReply.payload), flags == [true] {
            continuation.yield(.answer(id, .success(false)))
            return
          }
          let reply = try await connection.call(
            .chunk, payload: WireCodec.encode(ChunkRequest.put(address, length: UInt32(bytes.count))), body: bytes,
            timeout: .seconds(60))
          guard case .stored = try WireCodec.decode(ChunkResponse.self, from: reply.payload) else {
            throw CairnError(.protocolError, "unexpected reply to put")
          }
          continuation.yield(.answer(id, .success(true)))
        } catch {
          continuation.yield(.answer(id, .failure(CairnError.wrapping(error))))
        }
      }
    }
    defer { continuation.finish() }
    var outcome = PutOutcome()
    var answered = 0
    var armed = false
    for await event in stream {
      guard case .answer(let id, let result) = event else { break }  // stragglers are late
      answered += 1
      switch result {
      case .success(let didSend):
        outcome.durable += 1
        if didSend { outcome.sent += 1 }
      case .failure(let e): outcome.errors.append("server \(id): \(e.message)")
      }
      if answered == serverIds.count { break }
      if outcome.durable >= quorum, !armed {
        armed = true
        let wait = max(.milliseconds(500), (ContinuousClock.now - start) * 2)
        Task {
          try? await Task.sleep(for: wait)
          continuation.yield(.stragglersDue)
        }
      }
    }
    return outcome
  }
}

/// One upload task per block address while it is in flight, so files sharing blocks send them once.
actor UploadRegistry {
  private var tasks: [BlockAddress: Task<Result<(Int, Int), CairnError>, Never>] = [:]
  /// Most addresses remembered; past this the registry starts over (uploads stay correct, they
  /// may just repeat a `has` round trip).
  static let maxRemembered = 100_000

  func task(
    for address: BlockAddress, start: @escaping @Sendable () async -> Result<(Int, Int), CairnError>
  ) -> (Task<Result<(Int, Int), CairnError>, Never>, Bool) {
    if let existing = tasks[address] { return (existing, false) }
    if tasks.count >= Self.maxRemembered { tasks.removeAll() }
    let task = Task { await start() }
    tasks[address] = task
    return (task, true)
  }

  func forget(_ address: BlockAddress) { tasks[address] = nil }
}
