import CairnCore
import CairnPlacement
import CairnTransport
import CairnWire
import NIOCore

/// Moves blocks between this client and the chunk servers: replicated, quorum-acknowledged
/// uploads of only the blocks the cluster lacks, and verified downloads that fall back to other
/// replicas when a copy is missing, unreachable or corrupt.
public final class BlockTransfer: Sendable {
  let meta: MetaClient
  let pool: ConnectionPool
  let servers: ServerDirectory
  /// Uploads in flight or done by this client, so files sharing blocks upload them once.
  let uploads = UploadRegistry()

  init(meta: MetaClient, pool: ConnectionPool, servers: ServerDirectory) {
    self.meta = meta
    self.pool = pool
    self.servers = servers
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
    let live = try await servers.liveServers()
    guard live.count >= quorum else {
      throw CairnError(
        .unavailable, "only \(live.count) chunk server(s) are up; a write needs \(quorum) durable copies (R=\(replicas))")
    }
    let targets = live.map { PlacementTarget(serverId: $0.serverId, zone: $0.zone) }
    let results = await withTaskGroup(of: Result<(Int, Int), CairnError>.self) { group in
      for address in needed {
        let bytes = unique[address] ?? []
        let placed = Rendezvous.place(address, replicas: replicas, among: targets)
        group.addTask {
          let (task, isOwner) = await self.uploads.task(for: address) {
            await self.putReplicated(address, bytes, on: placed.map(\.serverId), quorum: quorum)
          }
          let result = await task.value
          if case .failure = result { await self.uploads.forget(address) }
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

  /// Puts one block on its placement in parallel; succeeds once `quorum` copies are durable.
  /// Returns how many servers were sent the bytes and how many bytes were sent.
  private func putReplicated(_ address: BlockAddress, _ bytes: [UInt8], on serverIds: [UInt64], quorum: Int) async
    -> Result<(Int, Int), CairnError>
  {
    let outcomes = await withTaskGroup(of: (UInt64, Result<Bool, CairnError>).self) { group in
      for id in serverIds {
        group.addTask {
          do {
            let connection = try await self.servers.connection(to: id, pool: self.pool)
            let hasReply = try await connection.call(.chunk, payload: WireCodec.encode(ChunkRequest.has([address])))
            if case .has(let flags) = try WireCodec.decode(ChunkResponse.self, from: hasReply.payload), flags == [true] {
              return (id, .success(false))
            }
            let reply = try await connection.call(
              .chunk, payload: WireCodec.encode(ChunkRequest.put(address, length: UInt32(bytes.count))), body: bytes,
              timeout: .seconds(60))
            guard case .stored = try WireCodec.decode(ChunkResponse.self, from: reply.payload) else {
              throw CairnError(.protocolError, "unexpected reply to put")
            }
            return (id, .success(true))
          } catch {
            return (id, .failure(CairnError.wrapping(error)))
          }
        }
      }
      var out: [(UInt64, Result<Bool, CairnError>)] = []
      for await o in group { out.append(o) }
      return out
    }
    var durable = 0
    var sent = 0
    var errors: [String] = []
    for (id, o) in outcomes {
      switch o {
      case .success(let didSend):
        durable += 1
        if didSend { sent += 1 }
      case .failure(let e): errors.append("server \(id): \(e.message)")
      }
    }
    if durable >= quorum { return .success((sent, sent * bytes.count)) }
    let code: CairnError.Code = errors.contains { $0.contains("full") } ? .noSpace : .unavailable
    return .failure(
      CairnError(
        code, "block \(address.shortHex) is durable on \(durable) of \(serverIds.count) servers, \(quorum) needed",
        details: errors))
  }

  /// Fetches a block and checks it hashes to its address and has the expected length. Tries the
  /// servers known to hold it, then every other live server; a copy that fails verification is
  /// skipped (and reported in the error if no good copy is found). Never returns wrong bytes.
  public func fetch(_ ref: BlockRef, locations: [UInt64]?) async throws(CairnError) -> [UInt8] {
    guard let address = ref.address else { return [UInt8](repeating: 0, count: Int(ref.length)) }
    let live = try await servers.liveServers()
    let ranked = Rendezvous.ranked(address, among: live.map { PlacementTarget(serverId: $0.serverId, zone: $0.zone) })
      .map(\.serverId)
    var order = (locations ?? []).filter { id in live.contains { $0.serverId == id } }
    for id in ranked where !order.contains(id) { order.append(id) }
    var problems: [String] = []
    for id in order {
      do throws(CairnError) {
        let connection = try await servers.connection(to: id, pool: pool)
        let reply = try await connection.call(
          .chunk, payload: WireCodec.encode(ChunkRequest.get(address)), timeout: .seconds(30),
          maxReplyBodyBytes: Int(ref.length))
        let bytes = reply.body ?? []
        guard bytes.count == Int(ref.length) else {
          problems.append("server \(id): \(bytes.count) bytes instead of \(ref.length)")
          continue
        }
        guard BlockAddress.of(bytes) == address else {
          problems.append("server \(id): bytes do not match the block's hash")
          continue
        }
        return bytes
      } catch {
        if error.code != .notFound { problems.append("server \(id): \(error.message)") }
      }
    }
    let corrupt = problems.contains { $0.contains("hash") || $0.contains("corrupt") }
    throw CairnError(
      corrupt ? .corruptBlock : .unavailable,
      "no good copy of block \(address.shortHex) on \(order.count) server(s)\(corrupt ? " (corrupt copies were refused)" : "")",
      details: problems)
  }
}

/// One upload task per block address for the life of a client.
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
