import CairnCore
import CairnMetadata
import CairnRocksDB
import CairnService
import CairnTransport
import Foundation
import Logging

/// Settings of `cairn meta serve`.
public struct MetaServerConfig: Codable, Sendable {
  public var dataDir: String
  public var listen: String
  public var chunkDownAfterSeconds: Double?
  public var logLevel: String?

  public init(dataDir: String, listen: String, chunkDownAfterSeconds: Double? = nil, logLevel: String? = nil) {
    self.dataDir = dataDir
    self.listen = listen
    self.chunkDownAfterSeconds = chunkDownAfterSeconds
    self.logLevel = logLevel
  }

  enum CodingKeys: String, CodingKey {
    case dataDir = "data_dir"
    case listen
    case chunkDownAfterSeconds = "chunk_down_after_seconds"
    case logLevel = "log_level"
  }

  public static let keys: Set<String> = ["data_dir", "listen", "chunk_down_after_seconds", "log_level"]
}

/// A running single metadata server: RocksDB store, state machine and wire server.
public final class MetaServer: Sendable {
  public let server: WireServer
  public let machine: MetadataStateMachine
  let logger: Logger

  private init(server: WireServer, machine: MetadataStateMachine, logger: Logger) {
    self.server = server
    self.machine = machine
    self.logger = logger
  }

  /// Opens the store under `config.dataDir` and starts listening.
  public static func start(_ config: MetaServerConfig, logger: Logger) async throws(CairnError) -> MetaServer {
    let listen = try ServerAddress(parsing: config.listen)
    try DataDirectory.prepare(config.dataDir)
    let serverId = try DataDirectory.persistentId(at: config.dataDir + "/server-id")
    let store = try RocksDBStore(path: config.dataDir + "/db")
    let machine = try MetadataStateMachine(store: store)
    let service = MetaService(
      serverId: serverId, reader: MetadataReader(store: store), proposer: LocalProposer(machine: machine),
      registry: ChunkRegistry(downAfterSeconds: config.chunkDownAfterSeconds ?? 6), clock: SystemClock(),
      logger: logger, appliedIndex: { machine.appliedIndex })
    let server = try await WireServer.start(at: listen, handler: service, role: "meta", logger: logger)
    logger.info(
      "metadata server listening",
      metadata: ["address": "\(server.localAddress)", "data_dir": "\(config.dataDir)", "applied": "\(machine.appliedIndex)"])
    return MetaServer(server: server, machine: machine, logger: logger)
  }

  public func stop() async {
    await server.close()
    logger.info("metadata server stopped")
  }
}
