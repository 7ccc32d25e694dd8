import CairnCore
import CairnMetadata
import CairnRaft
import CairnRaftStorage
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
  /// Raft (issue "Raft"): this member's id and every member's address, `1=HOST:PORT,2=…`.
  /// Without `peers` the server runs alone (no Raft log; the single-server topology).
  public var id: UInt64?
  public var peers: String?
  /// Join an existing group (wait to be added with `cairn cluster add-meta`).
  public var join: Bool?
  public var electionTimeoutMillis: Int?
  /// Repair and garbage-collection settings (see `RepairOptions`, `GarbageOptions`).
  public var repairGraceSeconds: Double?
  public var repairBytesPerSecond: Double?
  public var repairConcurrency: Int?
  public var repairIntervalSeconds: Double?
  public var gcGraceSeconds: Double?
  public var gcIntervalSeconds: Double?
  /// Take a snapshot (RocksDB checkpoint) and compact the Raft log every this many entries.
  public var snapshotEntries: UInt64?

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
    case id
    case peers
    case join
    case electionTimeoutMillis = "election_timeout_ms"
    case repairGraceSeconds = "repair_grace_seconds"
    case repairBytesPerSecond = "repair_bytes_per_second"
    case repairConcurrency = "repair_concurrency"
    case repairIntervalSeconds = "repair_interval_seconds"
    case gcGraceSeconds = "gc_grace_seconds"
    case gcIntervalSeconds = "gc_interval_seconds"
    case snapshotEntries = "snapshot_entries"
  }

  /// The default snapshot interval in log entries, as etcd's `--snapshot-count`: a checkpoint
  /// flushes the memtable and pauses the member's loop, so not too often.
  public static let defaultSnapshotEntries: UInt64 = 100_000

  public static let keys: Set<String> = [
    "data_dir", "listen", "chunk_down_after_seconds", "log_level", "id", "peers", "join", "election_timeout_ms",
    "repair_grace_seconds", "repair_bytes_per_second", "repair_concurrency", "repair_interval_seconds",
    "gc_grace_seconds",
    "gc_interval_seconds",
    "snapshot_entries",
  ]

  /// The Raft settings, or nil for a single server. Throws for bad or inconsistent values.
  public func raftConfiguration() throws(CairnError) -> RaftConfiguration? {
    guard let peers else {
      if id != nil { throw .invalid("--id needs --peers (every member's ID=HOST:PORT)") }
      if join == true { throw .invalid("--join needs --id and --peers") }
      return nil
    }
    return try RaftConfiguration(
      id: id, peers: peers, join: join ?? false, electionTimeoutMillis: electionTimeoutMillis)
  }
}

/// A running metadata server: RocksDB store, state machine, wire server and, in a group, the
/// Raft member that replicates every change.
public final class MetaServer: Sendable {
  public let server: WireServer
  public let machine: MetadataStateMachine
  public let service: MetaService
  let driver: RaftDriver?
  let peers: PeerRouter?
  let logger: Logger
  /// Leader-only background tasks (repair, garbage collection).
  let maintenance: BlockMaintenance

  private init(
    server: WireServer, machine: MetadataStateMachine, service: MetaService, driver: RaftDriver?, peers: PeerRouter?,
    logger: Logger, maintenance: BlockMaintenance
  ) {
    self.server = server
    self.machine = machine
    self.service = service
    self.driver = driver
    self.peers = peers
    self.logger = logger
    self.maintenance = maintenance
  }

  /// Opens the store under `config.dataDir` and starts listening; with `peers`, as a member of a
  /// Raft group (the Raft log lives in the same RocksDB under its own key prefix).
  public static func start(_ config: MetaServerConfig, logger: Logger) async throws(CairnError) -> MetaServer {
    let listen = try ServerAddress(parsing: config.listen)
    let raft = try config.raftConfiguration()
    try DataDirectory.prepare(config.dataDir)
    let serverId = try DataDirectory.persistentId(at: config.dataDir + "/server-id")
    let store = try RocksDBStore(path: config.dataDir + "/db")
    let machine = try MetadataStateMachine(store: store)
    var driver: RaftDriver?
    var router: PeerRouter?
    let proposer: any CommandProposer
    if let raft {
      let peers = PeerRouter(self: raft.id, logger: logger)
      let snapshotDirectory = config.dataDir + "/snapshots"
      peers.snapshots = SnapshotSender(directory: snapshotDirectory, pool: peers.pool, logger: logger)
      let options = RaftOptions(
        id: NodeID(raft.id), electionTicks: RaftConfiguration.electionTicks,
        heartbeatTicks: RaftConfiguration.heartbeatTicks, randomSeed: UInt64.random(in: 1...UInt64.max),
        maxAppendBytes: 1 << 20)
      let member = try RaftDriver(
        options: options, log: try RaftLogStore(store: store), machine: machine,
        bootstrapVoters: raft.join ? [] : raft.peers.keys.map { NodeID($0) }, addresses: raft.peers,
        tickInterval: raft.tickInterval, logger: logger,
        snapshots: .init(
          directory: snapshotDirectory, everyEntries: config.snapshotEntries ?? MetaServerConfig.defaultSnapshotEntries),
        send: { peers.send($0) })
      peers.addresses = { member.addresses }
      driver = member
      router = peers
      proposer = RaftProposer(driver: member)
    } else {
      proposer = LocalProposer(machine: machine)
    }
    let service = MetaService(
      serverId: serverId, reader: MetadataReader(store: store), proposer: proposer,
      registry: ChunkRegistry(downAfterSeconds: config.chunkDownAfterSeconds ?? 6), clock: SystemClock(),
      logger: logger, appliedIndex: { machine.appliedIndex })
    let raftService = driver.map {
      RaftService(driver: $0, meta: service, logger: logger, snapshotStaging: config.dataDir + "/snapshot-incoming")
    }
    let handler = MetaServerHandler(meta: service, raft: raftService)
    let server = try await WireServer.start(at: listen, handler: handler, role: "meta", logger: logger)
    driver?.start()
    let maintenance = try BlockMaintenance.start(
      service: service, config: config, isLeader: { [service] in service.isLeader })
    logger.info(
      "metadata server listening",
      metadata: [
        "address": "\(server.localAddress)", "data_dir": "\(config.dataDir)", "applied": "\(machine.appliedIndex)",
        "raft": "\(raft.map { "member \($0.id) of \($0.peers.keys.sorted())" } ?? "off (single server)")",
      ])
    return MetaServer(
      server: server, machine: machine, service: service, driver: driver, peers: router, logger: logger,
      maintenance: maintenance)
  }

  /// Stops serving. A Raft leader first hands leadership to the most up-to-date follower (waiting
  /// up to `transferTimeout`), so clients see a short redirect instead of an election timeout.
  public func stop(transferTimeout: Duration = .seconds(3)) async {
    maintenance.stop()
    if let driver, driver.isLeader {
      let status = driver.status
      if let best = status.peers.max(by: { $0.matchIndex < $1.matchIndex }) {
        logger.info("handing leadership over before stopping", metadata: ["to": "\(best.id.rawValue)"])
        driver.transferLeadership(to: best.id)
        let deadline = ContinuousClock.now + transferTimeout
        while ContinuousClock.now < deadline, driver.isLeader { try? await Task.sleep(for: .milliseconds(20)) }
        logger.info(driver.isLeader ? "leadership transfer timed out" : "leadership handed over")
      }
    }
    await driver?.stop()
    peers?.closeAll()
    await server.close()
    logger.info("metadata server stopped")
  }
}
