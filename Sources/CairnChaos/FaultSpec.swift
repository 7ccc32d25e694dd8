/// The faults the harness can inject (the catalogue of issue 7, requirement 3).
public enum FaultKind: String, Sendable, Equatable, CaseIterable {
  /// SIGKILL; restarted after `restartAfterSeconds` when given.
  case kill
  /// SIGSTOP for `durationSeconds`, then SIGCONT.
  case pause
  /// A bad build: the target is restarted `count` times, each run killed after `upSeconds`,
  /// then rolled back (started normally).
  case crashLoop = "crash-loop"
  /// Every target restarted (SIGTERM, start) one after another, `intervalSeconds` apart; with
  /// `bad`, that member crash-loops `count` times before it is rolled back.
  case rollingRestart = "rolling-restart"
  /// Traffic between `target` and `peers` blocked (both ways, or only from target to peers when
  /// `oneWay`) for `durationSeconds`.
  case partition
  /// Every chunk of traffic between `target` and `peers` delayed by `delayMilliseconds`.
  case delay
  /// Each chunk of traffic between `target` and `peers` lost with `lossProbability`; TCP then
  /// retransmits, so the proxy holds it for a retransmission timeout (doubling while losses repeat).
  case loss
  /// The target's data disk filled for `durationSeconds`.
  case diskFull = "disk-full"
  /// The target's disk I/O stalls: the process is stopped `stallFraction` of every 100 ms.
  case slowDisk = "slow-disk"
  /// `count` block files on the target chunk server overwritten with garbage (same length).
  case corrupt
  /// `count` block files on the target chunk server deleted.
  case deleteBlocks = "delete-blocks"
  /// The target's wall clock moved by `offsetSeconds` for `durationSeconds` (monotonic time real).
  case clockSkew = "clock-skew"
  /// The target's filesystem shut down without flushing (unsynced writes lost) and the process
  /// killed; the node comes back after `restartAfterSeconds`.
  case powerCut = "power-cut"
}

/// One fault of a scenario, with its time and parameters; which fields matter depends on `kind`.
public struct FaultSpec: Sendable, Equatable {
  public var kind: FaultKind
  public var atSeconds: Double
  public var target: NodeSelector
  public var durationSeconds: Double?
  public var peers: NodeSelector?
  public var oneWay: Bool = false
  public var restartAfterSeconds: Double?
  public var count: Int = 1
  public var intervalSeconds: Double = 2
  public var upSeconds: Double = 1
  public var delayMilliseconds: Int = 0
  public var lossProbability: Double = 0
  public var offsetSeconds: Double = 0
  public var stallFraction: Double = 0.8
  public var bad: NodeSelector?

  public init(kind: FaultKind, atSeconds: Double, target: NodeSelector) {
    self.kind = kind
    self.atSeconds = atSeconds
    self.target = target
  }

  func scaled(by factor: Double) -> FaultSpec {
    var copy = self
    copy.atSeconds = atSeconds * factor
    return copy
  }

  /// A one-line description for reports, e.g. `kill meta-leader at 8 s (restart after 4 s)`.
  public var label: String {
    var parts = ["\(kind.rawValue) \(target)"]
    if let peers { parts.append(oneWay ? "→ \(peers) (one-way)" : "↔ \(peers)") }
    switch kind {
    case .delay: parts.append("\(delayMilliseconds) ms")
    case .loss: parts.append("p=\(lossProbability)")
    case .clockSkew: parts.append("\(offsetSeconds > 0 ? "+" : "")\(Format.seconds(offsetSeconds))")
    case .crashLoop, .corrupt, .deleteBlocks: parts.append("×\(count)")
    case .rollingRestart: if let bad { parts.append("bad build on \(bad) ×\(count)") }
    default: break
    }
    if let durationSeconds { parts.append("for \(Format.seconds(durationSeconds))") }
    if let restartAfterSeconds { parts.append("restart after \(Format.seconds(restartAfterSeconds))") }
    return parts.joined(separator: " ")
  }
}

/// Names processes or groups of them in a scenario: `meta-leader`, `meta-follower`, `meta-any`,
/// `meta-all`, `meta-2`, `chunk-3`, `chunk-any`, `chunk-any:2`, `chunk-all`, `clients`, `rest`.
public enum NodeSelector: Sendable, Equatable, CustomStringConvertible {
  case metaLeader
  case metaFollower
  case metaAny
  case metaAll
  case meta(Int)
  case chunk(Int)
  /// `count` distinct chunk servers chosen by the seed.
  case chunkAny(count: Int)
  case chunkAll
  /// The workload's clients (containers and mounts).
  case clients
  /// Every node not on the other side (partitions only).
  case rest

  public init(parsing text: String) throws(ScenarioError) {
    switch text {
    case "meta-leader": self = .metaLeader
    case "meta-follower": self = .metaFollower
    case "meta-any": self = .metaAny
    case "meta-all": self = .metaAll
    case "chunk-any": self = .chunkAny(count: 1)
    case "chunk-all": self = .chunkAll
    case "clients": self = .clients
    case "rest": self = .rest
    default:
      if text.hasPrefix("chunk-any:"), let n = Int(text.dropFirst("chunk-any:".count)), n >= 1 {
        self = .chunkAny(count: n)
      } else if text.hasPrefix("meta-"), let n = Int(text.dropFirst(5)), n >= 1 {
        self = .meta(n)
      } else if text.hasPrefix("chunk-"), let n = Int(text.dropFirst(6)), n >= 1 {
        self = .chunk(n)
      } else {
        throw ScenarioError(
          "unknown node '\(text)' (expected meta-leader, meta-follower, meta-any, meta-all, meta-N, chunk-N, chunk-any, chunk-any:N, chunk-all, clients or rest)"
        )
      }
    }
  }

  public var description: String {
    switch self {
    case .metaLeader: "meta-leader"
    case .metaFollower: "meta-follower"
    case .metaAny: "meta-any"
    case .metaAll: "meta-all"
    case .meta(let n): "meta-\(n)"
    case .chunk(let n): "chunk-\(n)"
    case .chunkAny(let n): n == 1 ? "chunk-any" : "chunk-any:\(n)"
    case .chunkAll: "chunk-all"
    case .clients: "clients"
    case .rest: "rest"
    }
  }

  /// Whether the selector can only name metadata servers.
  public var isMeta: Bool {
    switch self {
    case .metaLeader, .metaFollower, .metaAny, .metaAll, .meta: true
    default: false
    }
  }
}

/// A scenario file that cannot be used, with the reason (file, key and what is wrong).
public struct ScenarioError: Error, Sendable, Equatable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// Small formatting helpers shared by reports and labels.
public enum Format {
  public static func seconds(_ value: Double) -> String {
    value == value.rounded() ? "\(Int(value)) s" : "\((value * 10).rounded() / 10) s"
  }
}
