/// Tunables and bounds of a node. Every bound is named so operators can reason about memory.
public struct RaftOptions: Sendable, Equatable, Codable {
  /// This node's identity.
  public var id: NodeID
  /// Ticks without hearing from a leader before a follower campaigns (randomized up to twice
  /// this). Also the CheckQuorum interval and the leader-lease length.
  public var electionTicks: Int
  /// Ticks between a leader's heartbeats; must be smaller than `electionTicks`.
  public var heartbeatTicks: Int
  /// Seed for the randomized election timeout; give each node a different one.
  public var randomSeed: UInt64
  /// Run a pre-election before bumping the term, so a partitioned node cannot disrupt.
  public var isPreVoteEnabled: Bool
  /// Leaders step down without a heartbeat quorum within an election timeout; followers
  /// ignore votes while they hear from a leader (the leader lease).
  public var isCheckQuorumEnabled: Bool
  /// Bound: entries in one append message.
  public var maxEntriesPerAppend: Int
  /// Bound: payload bytes in one append message (at least one entry is always sent).
  public var maxAppendBytes: Int
  /// Bound: append messages in flight to one follower before waiting for acknowledgements.
  public var maxInflightAppends: Int
  /// Bound: ReadIndex requests waiting at the leader; more are refused as overloaded.
  public var maxPendingReads: Int
  /// Bound: entries appended but not yet committed at the leader; more proposals are refused.
  public var maxUncommittedEntries: Int

  /// Options with conservative defaults.
  public init(
    id: NodeID,
    electionTicks: Int = 10,
    heartbeatTicks: Int = 2,
    randomSeed: UInt64 = 0,
    isPreVoteEnabled: Bool = true,
    isCheckQuorumEnabled: Bool = true,
    maxEntriesPerAppend: Int = 64,
    maxAppendBytes: Int = 1 << 20,
    maxInflightAppends: Int = 8,
    maxPendingReads: Int = 1024,
    maxUncommittedEntries: Int = 4096
  ) {
    precondition(id != .none, "a node needs a non-zero id")
    precondition(heartbeatTicks > 0 && electionTicks > heartbeatTicks, "need election > heartbeat")
    precondition(maxEntriesPerAppend > 0 && maxAppendBytes > 0 && maxInflightAppends > 0)
    self.id = id
    self.electionTicks = electionTicks
    self.heartbeatTicks = heartbeatTicks
    self.randomSeed = randomSeed
    self.isPreVoteEnabled = isPreVoteEnabled
    self.isCheckQuorumEnabled = isCheckQuorumEnabled
    self.maxEntriesPerAppend = maxEntriesPerAppend
    self.maxAppendBytes = maxAppendBytes
    self.maxInflightAppends = maxInflightAppends
    self.maxPendingReads = maxPendingReads
    self.maxUncommittedEntries = maxUncommittedEntries
  }
}
