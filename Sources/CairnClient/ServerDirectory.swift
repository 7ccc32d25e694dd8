import CairnCore
import CairnTransport
import CairnWire

/// The client's cached view of the chunk servers, refreshed from the metadata service at most
/// every few seconds. When the metadata service does not answer, the last list known (or the one
/// passed to `seed`, e.g. from a mount's node cache) is used, so blocks can still be read from
/// and written to chunk servers that are up while metadata is down.
public actor ServerDirectory {
  private let meta: MetaClient
  private var cached: [ChunkServerStatus] = []
  private var fetchedAt: ContinuousClock.Instant?
  private let maxAge: Duration

  init(meta: MetaClient, maxAge: Duration = .seconds(3)) {
    self.meta = meta
    self.maxAge = maxAge
  }

  public func all(refresh: Bool = false) async throws(CairnError) -> [ChunkServerStatus] {
    if !refresh, let fetchedAt, ContinuousClock.now - fetchedAt < maxAge { return cached }
    if !refresh, !cached.isEmpty {
      // Stale: answer from the list we have and refresh in the background (one refresh at a
      // time), so a slow or stalled metadata service never holds up a block read or write.
      startBackgroundRefresh()
      return cached
    }
    let reply: MetaResponse
    do throws(CairnError) {
      reply = try await meta.call(.clusterStatus)
    } catch {
      let unreachable = error.code == .unavailable || error.code == .timeout || error.code == .notLeader
      guard unreachable, !refresh, !cached.isEmpty else { throw error }
      // Try the service again after another `maxAge`, not on every call.
      fetchedAt = .now
      return cached
    }
    guard case .cluster(let status) = reply else {
      throw CairnError(.protocolError, "unexpected reply to clusterStatus")
    }
    cached = status.chunkServers
    fetchedAt = .now
    return cached
  }

  private var refreshing: Task<Void, Never>?

  private func startBackgroundRefresh() {
    guard refreshing == nil else { return }
    refreshing = Task { [meta] in
      let reply = try? await meta.call(.clusterStatus)
      self.finishRefresh(reply)
    }
  }

  private func finishRefresh(_ reply: MetaResponse?) {
    refreshing = nil
    if case .cluster(let status)? = reply { cached = status.chunkServers }
    // After a failure too: ask again after another `maxAge`, not on every call.
    fetchedAt = .now
  }

  /// Uses `servers` until the metadata service answers (nothing changes once it has).
  public func seed(_ servers: [ChunkServerStatus]) {
    guard cached.isEmpty else { return }
    cached = servers
  }

  /// The list last fetched (or seeded), without asking the service.
  public func lastKnown() -> [ChunkServerStatus] { cached }

  public func liveServers() async throws(CairnError) -> [ChunkServerStatus] {
    try await all().filter(\.isUp)
  }

  /// A server with less free space than this (from its last heartbeat) takes no new blocks.
  public static let minFreeBytes: UInt64 = 64 << 20

  /// Servers new blocks may be placed on: up, not draining, and not (nearly) full.
  public func writableServers() async throws(CairnError) -> [ChunkServerStatus] {
    try await all().filter { $0.isUp && $0.isDraining != true && $0.freeBytes >= Self.minFreeBytes }
  }

  public func connection(to id: UInt64, pool: ConnectionPool) async throws(CairnError) -> WireConnection {
    guard let server = try await all().first(where: { $0.serverId == id }) else {
      throw CairnError(.notFound, "chunk server \(id) is not registered")
    }
    return try await pool.connection(to: try ServerAddress(parsing: server.address))
  }
}
