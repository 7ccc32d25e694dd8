import CairnCore

/// The cluster shape a scenario runs against.
public struct Topology: Sendable, Equatable {
  public var name: String
  public var metaServers: Int
  public var chunkServers: Int
  public var replicas: Int
  /// Mounts keep serving (and queue commits) with the metadata service unreachable.
  public var isDegradedModeOn: Bool

  public init(name: String, metaServers: Int, chunkServers: Int, replicas: Int, isDegradedModeOn: Bool) {
    precondition(metaServers >= 1 && chunkServers >= replicas && replicas >= 1, "impossible topology")
    self.name = name
    self.metaServers = metaServers
    self.chunkServers = chunkServers
    self.replicas = replicas
    self.isDegradedModeOn = isDegradedModeOn
  }

  /// 3 metadata servers (Raft), 5 chunk servers, R=3, degraded mode on.
  public static let ha = Topology(name: "ha", metaServers: 3, chunkServers: 5, replicas: 3, isDegradedModeOn: true)
  /// One metadata server, 3 chunk servers, R=1, degraded mode off: every part a single point of failure.
  public static let spof = Topology(name: "spof", metaServers: 1, chunkServers: 3, replicas: 1, isDegradedModeOn: false)

  public static func named(_ name: String) -> Topology? {
    switch name {
    case "ha": .ha
    case "spof": .spof
    default: nil
    }
  }
}

/// What the runner does to a node at one step of a fault.
public enum FaultAction: Sendable, Equatable {
  case kill
  case start
  /// SIGTERM, wait, start again.
  case restart
  case pause
  case resume
  case partition(peers: NodeSelector, oneWay: Bool)
  case setDelay(milliseconds: Int, peers: NodeSelector)
  case setLoss(probability: Double, peers: NodeSelector)
  /// Every link of the node back to normal (ends partitions, delays, losses).
  case heal
  case fillDisk
  case freeDisk
  case startSlowDisk(stallFraction: Double)
  case stopSlowDisk
  case corrupt(count: Int)
  case deleteBlocks(count: Int)
  case setClock(offsetSeconds: Double)
  case powerCut
  case powerRestore
}

/// One step of the schedule: at `time`, do `action` to the nodes `target` names.
public struct FaultStep: Sendable, Equatable {
  public var time: Double
  /// Index of the fault in the scenario (targets are resolved once per fault and reused).
  public var fault: Int
  public var action: FaultAction
  public var target: NodeSelector
  /// The first step of the fault opens its window, the last closes it.
  public var opensWindow: Bool
  public var closesWindow: Bool
}

/// Expands a scenario's faults into timed steps. Pure: the same scenario and topology always give
/// the same steps, sorted by time (ties in fault order).
public enum FaultSchedule {
  public static func steps(for scenario: Scenario, topology: Topology) -> [FaultStep] {
    var out: [FaultStep] = []
    for (index, fault) in scenario.faults.enumerated() {
      var raw = expand(fault, topology: topology)
      guard !raw.isEmpty else { continue }
      raw.sort { $0.0 < $1.0 }
      for (i, (time, action, target)) in raw.enumerated() {
        out.append(
          FaultStep(
            time: time, fault: index, action: action, target: target, opensWindow: i == 0, closesWindow: i == raw.count - 1))
      }
    }
    return out.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
  }

  static func expand(_ f: FaultSpec, topology: Topology) -> [(Double, FaultAction, NodeSelector)] {
    let t = f.atSeconds
    let end = t + (f.durationSeconds ?? 0)
    let target = f.target
    switch f.kind {
    case .kill:
      var steps: [(Double, FaultAction, NodeSelector)] = [(t, .kill, target)]
      if let after = f.restartAfterSeconds { steps.append((t + after, .start, target)) }
      return steps
    case .pause: return [(t, .pause, target), (end, .resume, target)]
    case .crashLoop:
      return crashLoop(from: t, fault: f, target: target).steps
    case .rollingRestart:
      let count = target == .metaAll ? topology.metaServers : topology.chunkServers
      var steps: [(Double, FaultAction, NodeSelector)] = []
      var time = t
      for i in 1...count {
        let member: NodeSelector = target == .metaAll ? .meta(i) : .chunk(i)
        if let bad = f.bad, isBad(bad, member: i, of: count) {
          let loop = crashLoop(from: time, fault: f, target: member)
          steps += loop.steps
          time = loop.end + f.intervalSeconds
        } else {
          steps.append((time, .restart, member))
          time += f.intervalSeconds
        }
      }
      return steps
    case .partition:
      return [(t, .partition(peers: f.peers ?? .rest, oneWay: f.oneWay), target), (end, .heal, target)]
    case .delay:
      return [(t, .setDelay(milliseconds: f.delayMilliseconds, peers: f.peers ?? .rest), target), (end, .heal, target)]
    case .loss:
      return [(t, .setLoss(probability: f.lossProbability, peers: f.peers ?? .rest), target), (end, .heal, target)]
    case .diskFull: return [(t, .fillDisk, target), (end, .freeDisk, target)]
    case .slowDisk: return [(t, .startSlowDisk(stallFraction: f.stallFraction), target), (end, .stopSlowDisk, target)]
    case .corrupt: return [(t, .corrupt(count: f.count), target)]
    case .deleteBlocks: return [(t, .deleteBlocks(count: f.count), target)]
    case .clockSkew: return [(t, .setClock(offsetSeconds: f.offsetSeconds), target), (end, .setClock(offsetSeconds: 0), target)]
    case .powerCut:
      var steps: [(Double, FaultAction, NodeSelector)] = [(t, .powerCut, target)]
      if let after = f.restartAfterSeconds { steps.append((t + after, .powerRestore, target)) }
      return steps
    }
  }

  /// Whether member `i` of `count` gets the bad build: `meta-N`/`chunk-N` past the last member
  /// names the last one (so with a single metadata server, that server gets it).
  static func isBad(_ bad: NodeSelector, member i: Int, of count: Int) -> Bool {
    switch bad {
    case .meta(let n), .chunk(let n): return min(n, count) == i
    default: return false
    }
  }

  /// Kill, then `count` starts each killed after `upSeconds`, `intervalSeconds` apart, then a good
  /// start (the rollback).
  static func crashLoop(from t: Double, fault f: FaultSpec, target: NodeSelector)
    -> (steps: [(Double, FaultAction, NodeSelector)], end: Double)
  {
    var steps: [(Double, FaultAction, NodeSelector)] = [(t, .kill, target)]
    var time = t
    for _ in 0..<f.count {
      time += f.intervalSeconds
      steps.append((time, .start, target))
      time += f.upSeconds
      steps.append((time, .kill, target))
    }
    time += f.intervalSeconds
    steps.append((time, .start, target))
    return (steps, time)
  }
}

/// What the runner knows about the cluster when it resolves a selector.
public struct ClusterView: Sendable {
  public var metaServers: Int
  public var chunkServers: Int
  /// The current metadata leader (1-based), if known.
  public var leader: Int?

  public init(metaServers: Int, chunkServers: Int, leader: Int?) {
    self.metaServers = metaServers
    self.chunkServers = chunkServers
    self.leader = leader
  }

  /// Node names (`meta-2`, `chunk-4`, `clients`) a selector stands for, chosen with `random` where
  /// the selector leaves a choice. `excluding` names the other side of a partition (for `rest`).
  public func resolve(_ selector: NodeSelector, random: inout SeededRandom, excluding: [String] = []) -> [String] {
    let metas = (1...metaServers).map { "meta-\($0)" }
    let chunks = (1...chunkServers).map { "chunk-\($0)" }
    switch selector {
    case .metaLeader: return ["meta-\(leader ?? 1)"]
    case .metaFollower:
      let followers = metas.filter { $0 != "meta-\(leader ?? 1)" }
      return followers.isEmpty ? [metas[0]] : [followers[random.next(below: followers.count)]]
    case .metaAny: return [metas[random.next(below: metas.count)]]
    case .metaAll: return metas
    case .meta(let n): return ["meta-\(min(n, metaServers))"]
    case .chunk(let n): return ["chunk-\(min(n, chunkServers))"]
    case .chunkAny(let count):
      var pool = chunks
      var picked: [String] = []
      while picked.count < min(count, chunks.count) { picked.append(pool.remove(at: random.next(below: pool.count))) }
      return picked.sorted()
    case .chunkAll: return chunks
    case .clients: return ["clients"]
    case .rest: return (metas + chunks + ["clients"]).filter { !excluding.contains($0) }
    }
  }
}

