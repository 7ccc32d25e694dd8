/// The shape of one simulated run. `random(seed:)` derives everything from the seed, so that
/// different seeds explore different fault mixes (as TigerBeetle's VOPR does).
/// Probabilities are in per-mille so runs stay integer-only and exactly reproducible.
public struct SimulationOptions: Sendable, Equatable {
  /// Voters at bootstrap (3 or 5). One more node starts outside the group, to be added later.
  public var voterCount: Int = 3
  /// Simulated time units of the faulty phase.
  public var faultyDuration: Int = 600
  /// Upper bound on the healing phase in which every acknowledged write must reach every voter.
  public var settleDuration: Int = 1_500
  /// Time units between two ticks of a node.
  public var tickInterval: Int = 10
  /// Extra random time units added to each tick interval (clock drift between nodes).
  public var tickJitter: Int = 2
  /// Raft election timeout, in ticks.
  public var electionTicks: Int = 6
  /// Raft heartbeat interval, in ticks.
  public var heartbeatTicks: Int = 2
  /// Smallest message delay, in time units.
  public var minimumDelay: Int = 1
  /// Largest message delay, in time units (reordering comes from the spread).
  public var maximumDelay: Int = 20
  /// Delay between a node's write and the fsync that makes it durable.
  public var maximumSyncDelay: Int = 6
  /// Time units between client or fault actions.
  public var actionInterval: ClosedRange<Int> = 2...8
  /// Chance that a sent message is lost.
  public var lossPerMille: Int = 20
  /// Chance that a sent message is delivered twice.
  public var duplicationPerMille: Int = 20
  /// Relative weight of a client proposal among actions (zero disables; same for the rest).
  public var proposeWeight: Int = 40
  /// Relative weight of a ReadIndex read.
  public var readWeight: Int = 20
  /// Relative weight of crashing a node (half the time the leader); it restarts later.
  public var crashWeight: Int = 3
  /// Relative weight of a new partition (isolate a node, split in two, or a one-way link).
  public var partitionWeight: Int = 4
  /// Relative weight of healing every link.
  public var healWeight: Int = 4
  /// Relative weight of a membership change at the leader (add the spare or remove a voter).
  public var membershipWeight: Int = 2
  /// Relative weight of a leadership transfer to a random voter.
  public var transferWeight: Int = 2
  /// Relative weight of a compaction at a random node's applied index.
  public var compactWeight: Int = 4
  /// A random node's election timer fires early (leader churn, the Figure 8 situations).
  public var campaignWeight: Int = 2
  /// Raft bound on entries per append, kept small so that batching is exercised.
  public var maxEntriesPerAppend: Int = 4
  /// Raft pipelining window, kept small so that flow control is exercised.
  public var maxInflightAppends: Int = 3
  /// Whether PreVote is on for every node.
  public var isPreVoteEnabled: Bool = true
  /// Whether CheckQuorum (and the leader lease) is on for every node.
  public var isCheckQuorumEnabled: Bool = true

  /// Default options (3 voters, moderate faults).
  public init() {}

  /// Options drawn from `seed`: 3 or 5 voters, and fault rates from calm to hostile.
  public static func random(seed: UInt64) -> SimulationOptions {
    var random = SplitMix64(seed: seed ^ 0x5EED_0F_0B71_0125)
    var options = SimulationOptions()
    options.voterCount = random.chance(perMille: 500) ? 3 : 5
    options.lossPerMille = random.element(of: [0, 10, 50, 150]) ?? 0
    options.duplicationPerMille = random.element(of: [0, 20, 100]) ?? 0
    options.maximumDelay = random.element(of: [5, 20, 60]) ?? 20
    options.crashWeight = random.element(of: [0, 2, 6]) ?? 0
    options.partitionWeight = random.element(of: [0, 3, 8]) ?? 0
    options.healWeight = options.partitionWeight
    options.membershipWeight = random.element(of: [0, 2, 5]) ?? 0
    options.transferWeight = random.element(of: [0, 2, 5]) ?? 0
    options.compactWeight = random.element(of: [0, 3, 10]) ?? 0
    options.campaignWeight = random.element(of: [0, 2, 8]) ?? 0
    options.maxEntriesPerAppend = random.element(of: [1, 4, 64]) ?? 4
    options.maxInflightAppends = random.element(of: [1, 3, 8]) ?? 3
    options.isPreVoteEnabled = random.chance(perMille: 800)
    options.isCheckQuorumEnabled = random.chance(perMille: 800)
    return options
  }
}
