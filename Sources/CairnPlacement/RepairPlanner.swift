import CairnCore

/// A chunk server as repair sees it: liveness, draining and free space, from heartbeats and the
/// registry. `downForNanos` is 0 while the server is up.
public struct ServerHealth: Hashable, Sendable {
  public var serverId: UInt64
  public var zone: String
  public var isUp: Bool
  public var downForNanos: UInt64
  public var isDraining: Bool
  public var freeBytes: UInt64

  public init(serverId: UInt64, zone: String, isUp: Bool, downForNanos: UInt64, isDraining: Bool, freeBytes: UInt64) {
    self.serverId = serverId
    self.zone = zone
    self.isUp = isUp
    self.downForNanos = downForNanos
    self.isDraining = isDraining
    self.freeBytes = freeBytes
  }
}

/// What repair should do for one block: copies to make (target, with sources to copy from in
/// preference order) and locations to drop once the copies are recorded.
public struct RepairPlan: Hashable, Sendable {
  public struct Copy: Hashable, Sendable {
    public var target: UInt64
    public var sources: [UInt64]
  }

  /// Copies held by up, non-draining servers.
  public var healthy: [UInt64]
  /// Copies on servers down for less than the grace period (may come back).
  public var unreachable: [UInt64]
  /// Copies on servers down past the grace period or no longer registered.
  public var lost: [UInt64]
  /// Copies on up servers that are draining.
  public var draining: [UInt64]
  public var copies: [Copy]
  /// Locations that can be dropped now: lost and draining ones, once `wanted` healthy copies
  /// exist without them.
  public var droppable: [UInt64]
  /// Copies wanted (capped by the servers that could hold one).
  public var wanted: Int

  /// Fewer healthy copies than wanted.
  public var isUnderReplicated: Bool { healthy.count < wanted }
  /// No up server holds a copy: nothing can be copied until one returns.
  public var hasNoSource: Bool { healthy.isEmpty && draining.isEmpty }
}

/// Pure repair planning: given a block's recorded locations and the servers' health, which copies
/// to make and where (rendezvous order over the eligible servers, spreading zones first) and which
/// locations to drop. Deterministic; no clocks (the caller passes how long each server has been
/// down) and no I/O.
public enum RepairPlanner {
  /// Decides repair for one block.
  ///
  /// - Parameters:
  ///   - replicas: copies wanted (the block's volume replication factor).
  ///   - graceNanos: a copy on a server down for less than this still counts (a restart is not
  ///     worth re-replicating for); past it the copy counts as lost and is replaced.
  ///   - minFreeBytes: servers with less free space take no new copies.
  public static func plan(
    _ address: BlockAddress, length: UInt32, locations: [UInt64], replicas: Int, servers: [ServerHealth],
    graceNanos: UInt64, minFreeBytes: UInt64
  ) -> RepairPlan {
    precondition(replicas >= 1, "a block has at least one replica")
    let byId = Dictionary(servers.map { ($0.serverId, $0) }, uniquingKeysWith: { a, _ in a })
    var plan = RepairPlan(
      healthy: [], unreachable: [], lost: [], draining: [], copies: [], droppable: [], wanted: replicas)
    for id in Set(locations).sorted() {
      guard let server = byId[id] else {
        plan.lost.append(id)
        continue
      }
      if server.isUp {
        if server.isDraining { plan.draining.append(id) } else { plan.healthy.append(id) }
      } else if server.downForNanos < graceNanos {
        plan.unreachable.append(id)
      } else {
        plan.lost.append(id)
      }
    }
    let holders = Set(locations)
    let eligible = servers.filter {
      $0.isUp && !$0.isDraining && $0.freeBytes >= max(minFreeBytes, UInt64(length)) && !holders.contains($0.serverId)
    }
    // Copies that could ever exist on non-draining servers: the healthy and unreachable ones and
    // every eligible target.
    plan.wanted = min(replicas, plan.healthy.count + plan.unreachable.count + eligible.count)
    let missing = plan.wanted - plan.healthy.count - plan.unreachable.count
    let sources = Rendezvous.ranked(address, among: servers.filter { plan.healthy.contains($0.serverId) }.map(target))
      .map(\.serverId) + plan.draining
    if missing > 0, !sources.isEmpty {
      let existingZones = Set(servers.filter { holders.contains($0.serverId) && !plan.lost.contains($0.serverId) }.map(\.zone))
      for chosen in spread(address, count: missing, among: eligible, avoidingZones: existingZones) {
        plan.copies.append(RepairPlan.Copy(target: chosen.serverId, sources: sources))
      }
    }
    // Lost and draining copies are forgotten only once the healthy ones suffice, so a record never
    // loses its last hope of a source (a lost server may still come back).
    if plan.healthy.count >= plan.wanted, !plan.healthy.isEmpty { plan.droppable = plan.lost + plan.draining }
    return plan
  }

  private static func target(_ server: ServerHealth) -> PlacementTarget {
    PlacementTarget(serverId: server.serverId, zone: server.zone)
  }

  /// `count` servers in rendezvous order, preferring zones not yet used by the block's copies.
  static func spread(_ address: BlockAddress, count: Int, among servers: [ServerHealth], avoidingZones: Set<String>)
    -> [ServerHealth]
  {
    let ranked = Rendezvous.ranked(address, among: servers.map(target))
    let byId = Dictionary(servers.map { ($0.serverId, $0) }, uniquingKeysWith: { a, _ in a })
    var used = avoidingZones
    var chosen: [UInt64] = []
    for pass in 0..<2 where chosen.count < count {
      for candidate in ranked where chosen.count < count && !chosen.contains(candidate.serverId) {
        if pass == 0 && used.contains(candidate.zone) { continue }
        chosen.append(candidate.serverId)
        used.insert(candidate.zone)
      }
    }
    return chosen.compactMap { byId[$0] }
  }
}
