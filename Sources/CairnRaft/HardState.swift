/// The state a node must persist (and fsync) before it sends any message that depends on it.
public struct HardState: Codable, Sendable, Equatable {
  /// The latest term the node has seen.
  public var term: Term
  /// The candidate voted for in `term`, or `.none`.
  public var votedFor: NodeID
  /// The highest index known committed. Persisting it is an optimisation (faster restart).
  public var commitIndex: LogIndex

  /// Creates a hard state.
  public init(term: Term = 0, votedFor: NodeID = .none, commitIndex: LogIndex = 0) {
    self.term = term
    self.votedFor = votedFor
    self.commitIndex = commitIndex
  }
}
