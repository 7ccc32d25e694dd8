/// A broken invariant found by the simulator, with everything needed to replay it.
public struct SimulationFailure: Error, Sendable, Equatable, CustomStringConvertible {
  /// The seed that reproduces the run: `CAIRN_SIM_SEED=<seed> swift test`.
  public var seed: UInt64
  /// Simulated time of the failure.
  public var time: Int
  /// Which invariant broke, and how.
  public var message: String

  /// The failure with the command that replays it.
  public var description: String {
    "simulation seed \(seed) failed at time \(time): \(message) "
      + "(replay: CAIRN_SIM_SEED=\(seed) swift test --filter CairnRaftTests.SimulationTests)"
  }
}

/// Counters describing what a run exercised.
public struct SimulationStatistics: Sendable, Equatable {
  /// Events processed (ticks, deliveries, syncs, restarts, actions).
  public var events = 0
  /// Messages that reached a live node.
  public var messagesDelivered = 0
  /// Times a node became leader of a term.
  public var leadersElected = 0
  /// Proposals applied by their proposer at the index they were appended at.
  public var proposalsAcknowledged = 0
  /// ReadIndex reads served (and checked for linearizability).
  public var readsServed = 0
  /// Snapshots installed by followers from a leader.
  public var snapshotsInstalled = 0
  /// Compactions requested.
  public var compactions = 0
  /// Node crashes.
  public var crashes = 0
  /// Membership changes proposed.
  public var membershipChanges = 0
  /// Leadership transfers requested.
  public var transfers = 0

  /// All counters at zero.
  public init() {}

  /// Adds `other` into `self`.
  public mutating func add(_ other: SimulationStatistics) {
    events += other.events
    messagesDelivered += other.messagesDelivered
    leadersElected += other.leadersElected
    proposalsAcknowledged += other.proposalsAcknowledged
    readsServed += other.readsServed
    snapshotsInstalled += other.snapshotsInstalled
    compactions += other.compactions
    crashes += other.crashes
    membershipChanges += other.membershipChanges
    transfers += other.transfers
  }
}

/// The outcome of one run: its trace hash (equal seeds must give equal hashes), statistics,
/// and the first failure, if any.
public struct SimulationResult: Sendable, Equatable {
  /// The seed that was run.
  public var seed: UInt64
  /// Fingerprint of every event of the run.
  public var traceHash: UInt64
  /// What the run exercised.
  public var statistics: SimulationStatistics
  /// The first broken invariant, or nil when the run was safe and converged.
  public var failure: SimulationFailure?
}

/// FNV-1a over the values of every event: a cheap fingerprint of the whole trace.
struct TraceHasher {
  private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

  mutating func combine(_ number: UInt64) {
    var remaining = number
    for _ in 0..<8 {
      value ^= remaining & 0xFF
      value = value &* 0x0000_0100_0000_01B3
      remaining >>= 8
    }
  }
}
