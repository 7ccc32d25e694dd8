import CairnBlockStore
import CairnCore
import CairnService
import CairnTransport
import CairnWire
import Logging

/// Settings of `cairn chunk serve`.
public struct ChunkServerConfig: Codable, Sendable {
  public var dataDir: String
  public var listen: String
  public var meta: String
  public var advertise: String?
  public var zone: String?
  public var heartbeatSeconds: Double?
  public var logLevel: String?
  /// Background scrub rate (bytes re-read per second; 0 turns scrubbing off). Default 16 MiB/s.
  public var scrubBytesPerSecond: Double?
  /// Pause between two full scrub passes. Default 3600 s.
  public var scrubPauseSeconds: Double?

  public init(dataDir: String, listen: String, meta: String, advertise: String? = nil, zone: String? = nil,
              heartbeatSeconds: Double? = nil, logLevel: String? = nil) {
    self.dataDir = dataDir
    self.listen = listen
    self.meta = meta
    self.advertise = advertise
    self.zone = zone
    self.heartbeatSeconds = heartbeatSeconds
    self.logLevel = logLevel
  }

  enum CodingKeys: String, CodingKey {
    case dataDir = "data_dir"
    case listen, meta, advertise, zone
    case heartbeatSeconds = "heartbeat_seconds"
    case logLevel = "log_level"
    case scrubBytesPerSecond = "scrub_bytes_per_second"
    case scrubPauseSeconds = "scrub_pause_seconds"
  }

  public static let keys: Set<String> = [
    "data_dir", "listen", "meta", "advertise", "zone", "heartbeat_seconds", "log_level", "scrub_bytes_per_second",
    "scrub_pause_seconds",
  ]
}

/// A running chunk server: block store, wire server and the registration/heartbeat loop.
public final class ChunkServer: Sendable {
  public let server: WireServer
  public let serverId: UInt64
  private let heartbeatTask: Task<Void, Never>
  private let scrubTask: Task<Void, Never>?
  let logger: Logger

  private init(
    server: WireServer, serverId: UInt64, heartbeatTask: Task<Void, Never>, scrubTask: Task<Void, Never>?, logger: Logger
  ) {
    self.server = server
    self.serverId = serverId
    self.heartbeatTask = heartbeatTask
    self.scrubTask = scrubTask
    self.logger = logger
  }

  public static func start(_ config: ChunkServerConfig, logger: Logger) async throws(CairnError) -> ChunkServer {
    let listen = try ServerAddress(parsing: config.listen)
    let metaAddresses = try config.meta.split(separator: ",").map { s throws(CairnError) in
      try ServerAddress(parsing: String(s))
    }
    guard !metaAddresses.isEmpty else { throw .invalid("--meta needs at least one HOST:PORT") }
    let interval = config.heartbeatSeconds ?? 2
    guard interval > 0, interval <= 3600 else { throw .invalid("heartbeat interval must be between 0 and 3600 seconds") }
    let scrubRate = config.scrubBytesPerSecond ?? Double(16 << 20)
    let scrubPause = config.scrubPauseSeconds ?? 3600
    guard scrubRate >= 0, scrubPause >= 0 else { throw .invalid("scrub rate and pause must not be negative") }
    try DataDirectory.prepare(config.dataDir)
    let serverId = try DataDirectory.persistentId(at: config.dataDir + "/server-id")
    let store = try BlockStore(directory: config.dataDir + "/blocks")
    let service = ChunkService(store: store, serverId: serverId, logger: logger)
    // Block files found torn at open (a power cut) were quarantined: have them repaired.
    for address in store.corruptBlocks() { service.badBlocks.add(address) }
    let server = try await WireServer.start(at: listen, handler: service, role: "chunk", logger: logger)
    let advertised = try config.advertise.map { a throws(CairnError) in try ServerAddress(parsing: a) }
      ?? server.localAddress
    let registration = ChunkServerRegistration(
      serverId: serverId, address: advertised.description, zone: config.zone ?? "default")
    let task = Task {
      await Self.heartbeatLoop(
        registration: registration, metas: metaAddresses, service: service, interval: interval, logger: logger)
    }
    var scrubTask: Task<Void, Never>?
    if scrubRate > 0 {
      let scrubber = Scrubber(
        store: store, reports: service.badBlocks, bytesPerSecond: scrubRate, pauseSeconds: scrubPause, logger: logger)
      scrubTask = Task { await scrubber.run() }
    }
    logger.info(
      "chunk server listening",
      metadata: ["address": "\(server.localAddress)", "id": "\(serverId)", "data_dir": "\(config.dataDir)"])
    return ChunkServer(server: server, serverId: serverId, heartbeatTask: task, scrubTask: scrubTask, logger: logger)
  }

  /// Registers with the metadata service, then heartbeats every `interval` seconds to every
  /// metadata server (each keeps its own in-memory registry, so a new Raft leader already knows
  /// which chunk servers are up). Registration is a replicated write only the leader accepts; a
  /// follower answers it once the record has reached it. Each server backs off on its own.
  static func heartbeatLoop(
    registration: ChunkServerRegistration, metas: [ServerAddress], service: ChunkService, interval: Double,
    logger: Logger
  ) async {
    let pool = ConnectionPool(connectionsPerAddress: 1, connectTimeout: .seconds(2))
    await withTaskGroup(of: Void.self) { group in
      for meta in metas {
        group.addTask {
          await heartbeatLoop(
            registration: registration, meta: meta, pool: pool, service: service, interval: interval, logger: logger)
        }
      }
    }
  }

  static func heartbeatLoop(
    registration: ChunkServerRegistration, meta: ServerAddress, pool: ConnectionPool, service: ChunkService,
    interval: Double, logger: Logger
  ) async {
    var registered = false
    var failures = 0
    while !Task.isCancelled {
      do throws(CairnError) {
        let connection = try await pool.connection(to: meta)
        if !registered {
          do throws(CairnError) {
            _ = try await connection.call(
              .meta, payload: WireCodec.encode(MetaRequest.registerChunkServer(registration)), timeout: .seconds(5))
            registered = true
            logger.info("registered with metadata service", metadata: ["meta": "\(meta)"])
          } catch {
            // A follower that has not seen the registration yet: the leader's loop registers.
            guard error.code == .notLeader else { throw error }
          }
        }
        let heartbeat = try await service.heartbeat()
        _ = try await connection.call(.meta, payload: WireCodec.encode(MetaRequest.heartbeat(heartbeat)), timeout: .seconds(5))
        let bad = service.badBlocks.take()
        if !bad.isEmpty {
          do throws(CairnError) {
            _ = try await connection.call(
              .meta,
              payload: WireCodec.encode(
                MetaRequest.reportBadBlocks(serverId: registration.serverId, addresses: bad, reason: "scrub or read")),
              timeout: .seconds(5))
            logger.info("reported bad block copies", metadata: ["count": "\(bad.count)"])
          } catch {
            service.badBlocks.restore(bad)
            throw error
          }
        }
        if failures > 0 { logger.info("metadata server reachable again", metadata: ["meta": "\(meta)"]) }
        failures = 0
      } catch {
        failures += 1
        if error.code == .unavailable || error.code == .timeout { registered = false }
        if failures == 1 || failures % 30 == 0 {
          logger.warning("heartbeat failed", metadata: ["meta": "\(meta)", "error": "\(error)", "failures": "\(failures)"])
        }
      }
      try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
    }
  }

  public func stop() async {
    heartbeatTask.cancel()
    scrubTask?.cancel()
    await server.close()
    logger.info("chunk server stopped")
  }
}
