import CairnCore
import CairnMetadata
import CairnPlacement
import CairnService
import CairnTransport
import CairnWire

/// Liveness and capacity of chunk servers, from their heartbeats (kept in memory: after a restart
/// every server is "down" until it heartbeats again, which takes one interval).
public actor ChunkRegistry {
  struct Live {
    var lastSeenNanos: UInt64
    var heartbeat: ChunkServerHeartbeat
  }

  private var live: [UInt64: Live] = [:]
  /// A server silent for longer than this is down.
  public let downAfterNanos: UInt64

  /// When this registry started: a server not heard from since counts as down for this long.
  private let startedNanos = monotonicNanos()

  public init(downAfterSeconds: Double) { downAfterNanos = UInt64(downAfterSeconds * 1e9) }

  /// Liveness, draining and free space of every registered server, for repair planning.
  public func health(_ records: [ChunkServerRecord]) -> [ServerHealth] {
    let now = monotonicNanos()
    return records.sorted { $0.id < $1.id }.map { r in
      let seen = live[r.id]?.lastSeenNanos ?? startedNanos
      let age = now - min(seen, now)
      let isUp = live[r.id] != nil && age <= downAfterNanos
      return ServerHealth(
        serverId: r.id, zone: r.zone, isUp: isUp, downForNanos: isUp ? 0 : age, isDraining: r.isDraining == true,
        freeBytes: live[r.id]?.heartbeat.freeBytes ?? 0)
    }
  }

  public func record(_ heartbeat: ChunkServerHeartbeat) {
    live[heartbeat.serverId] = Live(lastSeenNanos: monotonicNanos(), heartbeat: heartbeat)
  }

  public func isUp(_ id: UInt64) -> Bool {
    guard let l = live[id] else { return false }
    return monotonicNanos() - l.lastSeenNanos <= downAfterNanos
  }

  /// Status of every registered server.
  public func statuses(_ records: [ChunkServerRecord]) -> [ChunkServerStatus] {
    let now = monotonicNanos()
    return records.sorted { $0.id < $1.id }.map { r in
      let l = live[r.id]
      let age = l.map { (now - $0.lastSeenNanos) / 1_000_000 } ?? UInt64.max
      let hb = l?.heartbeat
      return ChunkServerStatus(
        serverId: r.id, address: r.address, zone: r.zone, isUp: l != nil && age * 1_000_000 <= downAfterNanos,
        lastHeartbeatAgeMillis: age, capacityBytes: hb?.capacityBytes ?? 0, freeBytes: hb?.freeBytes ?? 0,
        blockCount: hb?.blockCount ?? 0, corruptBlocks: hb?.corruptBlocks ?? 0, isDraining: r.isDraining)
    }
  }
}
