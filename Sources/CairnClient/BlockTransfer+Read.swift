import CairnCore
import CairnPlacement
import CairnTransport
import CairnWire
import NIOCore

/// Verified, hedged block reads.
extension BlockTransfer {
  /// Reads slower than this count as failed for replica ranking.
  static let readPenaltyNanos: UInt64 = 10_000_000_000

  /// One read attempt's outcome.
  enum Attempt: Sendable {
    case verified([UInt8])
    /// The server sent bytes that fail verification (reported for repair).
    case bad(String)
    case failed(String, isMissing: Bool)
    /// The hedging timer fired.
    case hedge
  }

  /// Fetches a block and checks it hashes to its address and has the expected length. Replicas
  /// are tried fastest first (recent latency per server; servers known to hold the block before
  /// the others); when the first has not answered within the hedging threshold (about the 95th
  /// percentile of recent reads) a second is asked too, and the first verified answer wins. A copy
  /// that fails verification is reported to the metadata service and the next replica is asked at
  /// once. Never returns wrong bytes.
  public func fetch(_ ref: BlockRef, locations: [UInt64]?) async throws(CairnError) -> [UInt8] {
    guard let address = ref.address else { return [UInt8](repeating: 0, count: Int(ref.length)) }
    let live = try await servers.liveServers()
    let liveIds = Set(live.map(\.serverId))
    let located = (locations ?? []).filter { liveIds.contains($0) }
    let ranked = Rendezvous.ranked(address, among: live.map { PlacementTarget(serverId: $0.serverId, zone: $0.zone) })
      .map(\.serverId).filter { !located.contains($0) }
    let (ordered, threshold) = latencies.withLock { ($0.ordered(located) + ranked, $0.hedgeThresholdNanos()) }
    guard !ordered.isEmpty else {
      throw CairnError(.unavailable, "no chunk server is up to read block \(address.shortHex) from")
    }
    let (stream, continuation) = AsyncStream.makeStream(of: (Int, Attempt).self)
    var launched = 0
    var running = 0
    var problems: [String] = []
    func launch() {
      let index = launched
      let id = ordered[index]
      launched += 1
      running += 1
      // Unstructured: a loser (a stopped server) is left to its own timeout, not waited for.
      Task { continuation.yield((index, await self.attempt(address, length: ref.length, from: id))) }
    }
    func armHedge() {
      guard hedgedReads, launched < ordered.count else { return }
      Task {
        try? await Task.sleep(for: .nanoseconds(Int(threshold)))
        continuation.yield((-1, .hedge))
      }
    }
    launch()
    armHedge()
    defer { continuation.finish() }
    for await (index, outcome) in stream {
      switch outcome {
      case .verified(let bytes):
        return bytes
      case .hedge:
        if launched < ordered.count {
          launch()
          armHedge()
        }
        continue
      case .bad(let problem):
        problems.append(problem)
        report(serverId: ordered[index], address: address)
      case .failed(let problem, let isMissing):
        if !isMissing { problems.append(problem) }
      }
      running -= 1
      if launched < ordered.count {
        launch()
      } else if running == 0 {
        break
      }
    }
    let corrupt = problems.contains { $0.contains("hash") || $0.contains("corrupt") }
    throw CairnError(
      corrupt ? .corruptBlock : .unavailable,
      "no good copy of block \(address.shortHex) on \(ordered.count) server(s)\(corrupt ? " (corrupt copies were refused)" : "")",
      details: problems)
  }

  /// One read from one server, verified, with its latency recorded.
  private func attempt(_ address: BlockAddress, length: UInt32, from id: UInt64) async -> Attempt {
    let start = ContinuousClock.now
    do throws(CairnError) {
      let connection = try await servers.connection(to: id, pool: pool)
      let reply = try await connection.call(
        .chunk, payload: WireCodec.encode(ChunkRequest.get(address)), timeout: .seconds(30),
        maxReplyBodyBytes: Int(length))
      let elapsed = ContinuousClock.now - start
      let nanos = UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000)
      latencies.withLock { $0.record(id, nanos: nanos) }
      let bytes = reply.body ?? []
      guard bytes.count == Int(length) else { return .bad("server \(id): \(bytes.count) bytes instead of \(length)") }
      guard BlockAddress.of(bytes) == address else { return .bad("server \(id): bytes do not match the block's hash") }
      return .verified(bytes)
    } catch {
      if error.code != .notFound { latencies.withLock { $0.penalize(id, penaltyNanos: Self.readPenaltyNanos) } }
      if error.code == .corruptBlock { return .bad("server \(id): \(error.message)") }
      return .failed("server \(id): \(error.message)", isMissing: error.code == .notFound)
    }
  }

  /// Tells the metadata service that `serverId` returned a bad copy (best effort, in the
  /// background: the leader re-verifies with the server before acting).
  private func report(serverId: UInt64, address: BlockAddress) {
    let meta = self.meta
    Task {
      _ = try? await meta.call(
        .reportBadBlocks(serverId: serverId, addresses: [address], reason: "a client read failed verification"),
        timeout: .seconds(5))
    }
  }
}
