/// What happened to a proposal or a membership change.
public enum ProposalOutcome: Sendable, Equatable, Codable {
  /// Appended at (`index`, `term`); it is committed when an entry with that index and term
  /// appears in `committedEntries`, and lost if a different entry does.
  case appended(id: UInt64, index: LogIndex, term: Term)
  /// Refused; nothing was appended.
  case rejected(id: UInt64, reason: RaftRejection)
}

/// Why a read or proposal was refused.
public enum RaftRejection: Sendable, Equatable, Codable {
  /// This node is not the leader; `leader` is its best guess (`.none` if unknown).
  case notLeader(leader: NodeID)
  /// A leadership transfer is in progress; retry shortly.
  case transferInProgress
  /// A membership change is still uncommitted, or the leader has not committed in its term.
  case membershipChangePending
  /// The change would not alter the membership, or would remove the last voter.
  case invalidMembershipChange
  /// A named bound was reached (for example `maxPendingReads`).
  case overloaded
  /// Leadership was lost while the request waited.
  case leadershipLost
}
