import ArgumentParser
import CairnChunkServer
import CairnClient
import CairnCore
import CairnMetaServer
import CairnService
import CairnTransport
import CairnWire
import Foundation
import Logging

/// `cairn meta …`
struct MetaCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "meta", abstract: "Run a metadata server.", subcommands: [MetaServe.self])
}

struct MetaServe: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve", abstract: "Serve volume metadata from a RocksDB data directory until SIGTERM.")
  @Option(
    help:
      "TOML config file (keys: data_dir, listen, chunk_down_after_seconds, log_level, id, peers, join, election_timeout_ms, snapshot_entries); flags override it."
  )
  var config: String?
  @Option(help: "Data directory (RocksDB and the server id).") var dataDir: String?
  @Option(help: "Address to listen on, HOST:PORT.") var listen: String?
  @Option(help: "Seconds without a heartbeat before a chunk server counts as down.") var chunkDownAfter: Double?
  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String?
  @Option(help: "This server's member id in its Raft group (with --peers).") var id: UInt64?
  @Option(help: "Every member of the Raft group, ID=HOST:PORT,… (this one included). Omit for a single server.")
  var peers: String?
  @Flag(help: "Join an existing group: wait to be added with 'cairn cluster add-meta' instead of starting a new group.")
  var join = false
  @Option(help: "Raft election timeout in milliseconds (default 1000).") var electionTimeoutMs: Int?
  @Option(help: "Seconds a chunk server may be down before its blocks are re-replicated (default 300).")
  var repairGrace: Double?
  @Option(help: "Repair copy rate limit in bytes per second (default 64 MiB/s).") var repairBytesPerSecond: Double?
  @Option(help: "Repair copies in flight at most (default 4).") var repairConcurrency: Int?
  @Option(help: "Seconds between repair passes (default 10).") var repairInterval: Double?
  @Option(help: "Seconds a block stays unreferenced (or an upload uncommitted) before it is deleted (default 3600).")
  var gcGrace: Double?
  @Option(help: "Seconds between garbage-collection passes (default 60).") var gcInterval: Double?
  @Option(help: "Snapshot the metadata and compact the Raft log every N entries (default 10000; 0 = never).")
  var snapshotEntries: UInt64?

  func run() async throws {
    try await reporting { () throws(CairnError) in
      var settings = try config.map { path throws(CairnError) in
        try ConfigLoader.load(MetaServerConfig.self, from: path, allowedKeys: MetaServerConfig.keys)
      } ?? MetaServerConfig(dataDir: "", listen: "127.0.0.1:7700")
      if let id { settings.id = id }
      if let peers { settings.peers = peers }
      if join { settings.join = true }
      if let electionTimeoutMs { settings.electionTimeoutMillis = electionTimeoutMs }
      if let snapshotEntries { settings.snapshotEntries = snapshotEntries }
      _ = try settings.raftConfiguration()
      if let dataDir { settings.dataDir = dataDir }
      if let listen { settings.listen = listen }
      if let chunkDownAfter { settings.chunkDownAfterSeconds = chunkDownAfter }
      if let logLevel { settings.logLevel = logLevel }
      if let repairGrace { settings.repairGraceSeconds = repairGrace }
      if let repairBytesPerSecond { settings.repairBytesPerSecond = repairBytesPerSecond }
      if let repairConcurrency { settings.repairConcurrency = repairConcurrency }
      if let repairInterval { settings.repairIntervalSeconds = repairInterval }
      if let gcGrace { settings.gcGraceSeconds = gcGrace }
      if let gcInterval { settings.gcIntervalSeconds = gcInterval }
      guard !settings.dataDir.isEmpty else { throw .invalid("--data-dir (or data_dir in --config) is required") }
      LoggingSetup.bootstrap(level: try LoggingSetup.level(settings.logLevel ?? "info"))
      let logger = Logger(label: "cairn.meta")
      let server = try await MetaServer.start(settings, logger: logger)
      let signal = await ShutdownSignal.wait()
      logger.info("shutting down", metadata: ["signal": "\(signal)"])
      await server.stop()
    }
  }
}

/// `cairn chunk …`
struct ChunkCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "chunk", abstract: "Run a chunk server.", subcommands: [ChunkServe.self])
}

struct ChunkServe: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve", abstract: "Store content-addressed blocks in a data directory until SIGTERM.")
  @Option(help: "TOML config file (keys: data_dir, listen, meta, advertise, zone, heartbeat_seconds, log_level, scrub_bytes_per_second, scrub_pause_seconds).")
  var config: String?
  @Option(help: "Data directory for blocks.") var dataDir: String?
  @Option(help: "Address to listen on, HOST:PORT.") var listen: String?
  @Option(help: "Metadata server(s), HOST:PORT[,HOST:PORT…].") var meta: String?
  @Option(help: "Address clients should use (default: the listen address).") var advertise: String?
  @Option(help: "Failure-domain label (replicas spread across zones).") var zone: String?
  @Option(help: "Seconds between heartbeats.") var heartbeat: Double?
  @Option(help: "Log level.") var logLevel: String?
  @Option(help: "Background scrub rate in bytes per second (0: off; default 16 MiB/s).") var scrubBytesPerSecond: Double?
  @Option(help: "Seconds between two full scrub passes (default 3600).") var scrubPause: Double?

  func run() async throws {
    try await reporting { () throws(CairnError) in
      var settings = try config.map { path throws(CairnError) in
        try ConfigLoader.load(ChunkServerConfig.self, from: path, allowedKeys: ChunkServerConfig.keys)
      } ?? ChunkServerConfig(dataDir: "", listen: "127.0.0.1:7800", meta: "")
      if let dataDir { settings.dataDir = dataDir }
      if let listen { settings.listen = listen }
      if let meta { settings.meta = meta }
      if let advertise { settings.advertise = advertise }
      if let zone { settings.zone = zone }
      if let heartbeat { settings.heartbeatSeconds = heartbeat }
      if let logLevel { settings.logLevel = logLevel }
      if let scrubBytesPerSecond { settings.scrubBytesPerSecond = scrubBytesPerSecond }
      if let scrubPause { settings.scrubPauseSeconds = scrubPause }
      guard !settings.dataDir.isEmpty else { throw .invalid("--data-dir (or data_dir in --config) is required") }
      guard !settings.meta.isEmpty else { throw .invalid("--meta (or meta in --config) is required") }
      LoggingSetup.bootstrap(level: try LoggingSetup.level(settings.logLevel ?? "info"))
      let logger = Logger(label: "cairn.chunk")
      let server = try await ChunkServer.start(settings, logger: logger)
      let signal = await ShutdownSignal.wait()
      logger.info("shutting down", metadata: ["signal": "\(signal)"])
      await server.stop()
    }
  }
}

/// `cairn cluster …`
struct ClusterCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cluster", abstract: "Inspect and change the cluster.",
    subcommands: [ClusterStatusCommand.self, ClusterAddMeta.self, ClusterRemoveMeta.self, ClusterTransferLeader.self,
      ClusterDrainChunkCommand.self,
    ])
}

struct ClusterStatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status", abstract: "Show metadata and chunk servers with their health.")
  @OptionGroup var client: ClientOptions
  @Flag(help: "Print JSON.") var json = false

  struct ChunkRow: Encodable {
    var id: UInt64
    var address: String
    var zone: String
    var state: String
    var capacityBytes: UInt64
    var freeBytes: UInt64
    var blocks: UInt64
    var corruptBlocks: UInt64
    var lastHeartbeatMillis: UInt64?
    var draining: Bool
    /// Blocks the metadata still locates here (drain progress), when the leader has counted.
    var recordedBlocks: UInt64?
  }

  struct MetaRow: Encodable {
    var id: UInt64?
    var address: String
    var role: String
    var term: UInt64?
    var commitIndex: UInt64?
    var appliedIndex: UInt64?
    var lastIndex: UInt64?
    /// Entries behind the leader's last index (from the leader's view), when known.
    var lag: UInt64?
    var snapshotIndex: UInt64?
    /// Synced Raft writes since the member started, and the entries they carried.
    var syncedWrites: UInt64?
    var entriesWritten: UInt64?
    var problem: String?
  }

  struct Output: Encodable {
    var metaServerId: UInt64
    var leader: Bool
    var appliedIndex: UInt64
    var volumes: UInt64
    /// The Raft group; empty for a single metadata server.
    var raft: Bool
    var leaderId: UInt64?
    var term: UInt64?
    var metaServers: [MetaRow]
    var chunkServers: [ChunkRow]
    var blocks: BlockHealthStatus?
  }

  /// The leader's own status (its block health and drain counts), or nil if it does not answer.
  static func leaderStatus(_ address: String) async -> ClusterStatus? {
    guard let parsed = try? ServerAddress(parsing: address) else { return nil }
    let leader = CairnClient(metaAddresses: [parsed], timeout: .seconds(5))
    defer { Task { await leader.close() } }
    return try? await leader.clusterStatus()
  }

  /// One row per metadata server of a Raft group (empty when the servers run without Raft).
  static func metaRows(_ admin: MetaAdmin) async -> [MetaRow] {
    let answers = await admin.statuses()
    if answers.allSatisfy({ $0.status == nil && ($0.problem ?? "").contains("without Raft") }) { return [] }
    let leader = answers.compactMap(\.status).filter { $0.role == "leader" }.max { $0.term < $1.term }
    return answers.map { answer in
      guard let s = answer.status else {
        return MetaRow(address: answer.address, role: "unreachable", problem: answer.problem)
      }
      var lag: UInt64?
      if let leader {
        if s.id == leader.id {
          lag = 0
        } else if let p = leader.progress.first(where: { $0.id == s.id }) {
          lag = p.lag
        }
      }
      return MetaRow(
        id: s.id, address: answer.address, role: s.role, term: s.term, commitIndex: s.commitIndex,
        appliedIndex: s.appliedIndex, lastIndex: s.lastIndex, lag: lag, snapshotIndex: s.snapshotIndex,
        syncedWrites: s.syncedWrites, entriesWritten: s.entriesWritten)
    }.sorted { ($0.id ?? .max, $0.address) < ($1.id ?? .max, $1.address) }
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      var status = try await client.makeClient().clusterStatus()
      let admin = try client.makeAdmin()
      let metas = await Self.metaRows(admin)
      await admin.close()
      let leaderRow = metas.filter { $0.role == "leader" }.max { ($0.term ?? 0) < ($1.term ?? 0) }
      if !status.isLeader, let leaderRow, let fromLeader = await ClusterStatusCommand.leaderStatus(leaderRow.address) {
        // Block health and repair progress are counted by the leader only.
        status.blocks = fromLeader.blocks
        status.chunkServers = fromLeader.chunkServers
      }
      let rows = status.chunkServers.map {
        ChunkRow(
          id: $0.serverId, address: $0.address, zone: $0.zone, state: $0.isUp ? "up" : "down",
          capacityBytes: $0.capacityBytes, freeBytes: $0.freeBytes, blocks: $0.blockCount, corruptBlocks: $0.corruptBlocks,
          lastHeartbeatMillis: $0.lastHeartbeatAgeMillis == UInt64.max ? nil : $0.lastHeartbeatAgeMillis,
          draining: $0.isDraining == true, recordedBlocks: $0.recordedBlocks)
      }
      if json {
        Terminal.json(
          Output(
            metaServerId: status.metaServerId, leader: status.isLeader, appliedIndex: status.appliedIndex,
            volumes: status.volumeCount, raft: !metas.isEmpty, leaderId: leaderRow?.id, term: leaderRow?.term,
            metaServers: metas, chunkServers: rows, blocks: status.blocks))
        return
      }
      if metas.isEmpty {
        Terminal.out(
          "metadata server \(status.metaServerId): single server (no Raft), applied index \(status.appliedIndex), \(status.volumeCount) volume(s)"
        )
      } else {
        let leaderText = leaderRow.map { "member \($0.id ?? 0) (\($0.address)), term \($0.term ?? 0)" } ?? "none (election in progress?)"
        Terminal.out("metadata Raft group: \(metas.count) member(s), leader \(leaderText), \(status.volumeCount) volume(s)")
        func text(_ v: UInt64?) -> String { v.map(String.init) ?? "-" }
        Terminal.table(
          ["META", "ADDRESS", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "SNAPSHOT"],
          metas.map {
            [
              text($0.id), $0.address, $0.role, text($0.term), text($0.commitIndex), text($0.appliedIndex), text($0.lag),
              text($0.snapshotIndex),
            ]
          })
        for m in metas where m.problem != nil { Terminal.out("  \(m.address): \(m.problem ?? "")") }
      }
      Terminal.table(
        ["CHUNK SERVER", "ADDRESS", "ZONE", "STATE", "BLOCKS", "RECORDED", "CORRUPT", "FREE", "CAPACITY"],
        rows.map {
          [
            "\($0.id)", $0.address, $0.zone, $0.draining ? "\($0.state),draining" : $0.state, "\($0.blocks)",
            $0.recordedBlocks.map { "\($0)" } ?? "-", "\($0.corruptBlocks)", Format.bytes($0.freeBytes),
            Format.bytes($0.capacityBytes),
          ]
        })
      if let b = status.blocks {
        Terminal.out(
          "blocks: \(b.blocks) referenced, \(b.replicas) replicas; \(b.underReplicated) under-replicated, \(b.unreachable) with a copy on a down server, \(b.unavailable) with no copy up"
        )
        Terminal.out(
          "corrupt copies: \(b.corruptReplicas) found, \(b.corruptPendingRepair) waiting for repair")
        Terminal.out(
          "repair: \(b.repairQueued) copies queued, \(b.repairCopiesDone) done (\(Format.bytes(b.repairBytesCopied))), \(b.repairCopiesFailed) failed, \(b.repairPasses) passes"
        )
        Terminal.out("garbage: \(b.garbagePending) unreferenced block(s) in their grace period, \(b.garbageCollected) deleted")
      }
    }
  }
}
