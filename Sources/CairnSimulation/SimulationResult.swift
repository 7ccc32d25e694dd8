/// A broken invariant found by the simulator, with everything needed to replay it.
public struct SimulationFailure: Error, Sendable, Equatable, CustomStringConvertible {
  /// The seed that reproduces the run: `CAIRN_SIM_SEED=<seed> swift test`.
  public var seed: UInt64
  /// Simulated time of the failure.
  public var time: Int
  /// Which invariant broke, and how.
  public var message: String

  public var description: String {
    "simulation seed \(seed) failed at time \(time): \(message) "
      + "(replay: CAIRN_SIM_SEED=\(seed) swift test --filter CairnRaftTests.SimulationTests)"
  }
}

/// Counters describing what a run exercised.
public struct SimulationStatistics: Sendable, Equatable {
  public var events = 0
  public var messagesDelivered = 0
  public var leadersElected = 0
  public var proposalsAcknowledged = 0
  public var readsServed = 0
  public var snapshotsInstalled = 0
  public var compactions = 0
  public var crashes = 0
  public var membershipChanges = 0
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
  public var seed: UInt64
  public var traceHash: UInt64
  public var statistics: SimulationStatistics
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
