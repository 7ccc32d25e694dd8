import CairnCore

/// A chunk server as placement sees it.
public struct PlacementTarget: Hashable, Sendable {
  public var serverId: UInt64
  public var zone: String

  public init(serverId: UInt64, zone: String) {
    self.serverId = serverId
    self.zone = zone
  }
}

/// Rendezvous (highest-random-weight) hashing: every (block, server) pair gets a stable score and
/// a block lives on its highest-scoring servers. Adding or removing one of N servers moves only
/// about 1/N of the blocks, and every client computes the same answer without coordination.
public enum Rendezvous {
  /// The score of `serverId` for `address`.
  public static func score(_ address: BlockAddress, _ serverId: UInt64) -> UInt64 {
    var bytes = address.bytes
    for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: serverId >> UInt64(shift))) }
    return stableHash64(bytes)
  }

  /// All servers in preference order for `address` (highest score first).
  public static func ranked(_ address: BlockAddress, among servers: [PlacementTarget]) -> [PlacementTarget] {
    servers.map { ($0, score(address, $0.serverId)) }
      .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.serverId < $1.0.serverId }
      .map(\.0)
  }

  /// The `count` servers that should hold `address`: in rank order, but spreading over zones first
  /// (a second replica goes to a zone already used only when every zone has one).
  public static func place(_ address: BlockAddress, replicas count: Int, among servers: [PlacementTarget])
    -> [PlacementTarget]
  {
    let ranked = ranked(address, among: servers)
    var chosen: [PlacementTarget] = []
    var usedZones = Set<String>()
    let zoneCount = Set(servers.map(\.zone)).count
    for pass in 0..<2 where chosen.count < count {
      for server in ranked where chosen.count < count && !chosen.contains(server) {
        if pass == 0 && usedZones.contains(server.zone) && usedZones.count < zoneCount { continue }
        chosen.append(server)
        usedZones.insert(server.zone)
      }
    }
    return chosen
  }
}

/// Quorum arithmetic for replicated writes.
public enum Quorum {
  /// Copies that must be durable before a write of `replicas` copies succeeds: ⌊R/2⌋+1.
  public static func write(replicas: Int) -> Int { replicas / 2 + 1 }
}
