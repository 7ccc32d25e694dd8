import CairnCore
import CairnTransport
import CairnWire

/// The client's cached view of the chunk servers, refreshed from the metadata service at most
/// every few seconds.
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
    guard case .cluster(let status) = try await meta.call(.clusterStatus) else {
      throw CairnError(.protocolError, "unexpected reply to clusterStatus")
    }
    cached = status.chunkServers
    fetchedAt = .now
    return cached
  }

  public func liveServers() async throws(CairnError) -> [ChunkServerStatus] {
    try await all().filter(\.isUp)
  }

  public func connection(to id: UInt64, pool: ConnectionPool) async throws(CairnError) -> WireConnection {
    guard let server = try await all().first(where: { $0.serverId == id }) else {
      throw CairnError(.notFound, "chunk server \(id) is not registered")
    }
    return try await pool.connection(to: try ServerAddress(parsing: server.address))
  }
}
