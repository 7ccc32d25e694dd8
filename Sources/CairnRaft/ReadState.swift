/// A ReadIndex request that may now be served: leadership was confirmed by a quorum after the
/// read arrived, and the state machine has applied at least `index`.
public struct ReadState: Sendable, Equatable, Codable {
  /// The caller's read id.
  public var id: UInt64
  /// The commit index at the time of the read; serve state as of this index or later.
  public var index: LogIndex

  /// Creates a read state.
  public init(id: UInt64, index: LogIndex) {
    self.id = id
    self.index = index
  }
}

/// A ReadIndex request that failed.
public struct ReadFailure: Sendable, Equatable, Codable {
  /// The caller's read id.
  public var id: UInt64
  /// Why.
  public var reason: RaftRejection

  /// Creates a read failure.
  public init(id: UInt64, reason: RaftRejection) {
    self.id = id
    self.reason = reason
  }
}
