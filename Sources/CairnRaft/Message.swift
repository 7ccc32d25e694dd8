/// A message between two members of the group. Every message carries the sender's term.
public struct Message: Codable, Sendable, Equatable {
  /// The sender.
  public var from: NodeID
  /// The recipient.
  public var to: NodeID
  /// The sender's term (for a pre-vote request: the term the sender would campaign in).
  public var term: Term
  /// What the message says.
  public var kind: MessageKind

  /// Creates a message.
  public init(from: NodeID, to: NodeID, term: Term, kind: MessageKind) {
    self.from = from
    self.to = to
    self.term = term
    self.kind = kind
  }
}

/// The Raft RPCs, requests and responses alike.
public enum MessageKind: Codable, Sendable, Equatable {
  /// PreVote (Ongaro §9.6): "would you vote for me in `term`?" The recipient changes no state.
  case preVoteRequest(lastIndex: LogIndex, lastTerm: Term)
  /// The answer to a pre-vote request.
  case preVoteResponse(granted: Bool)
  /// RequestVote. `isLeadershipTransfer` lets the vote bypass the leader lease (TimeoutNow).
  case voteRequest(lastIndex: LogIndex, lastTerm: Term, isLeadershipTransfer: Bool)
  /// The answer to a vote request.
  case voteResponse(granted: Bool)
  /// AppendEntries: `entries` follow the entry at (`previousIndex`, `previousTerm`).
  case appendRequest(
    previousIndex: LogIndex, previousTerm: Term, entries: [LogEntry], leaderCommit: LogIndex)
  /// The answer to an append or snapshot. On success `index` is the follower's last matching
  /// index; on rejection `index` is the rejected `previousIndex` and `hintIndex` the follower's
  /// last index, so the leader can skip back quickly.
  case appendResponse(success: Bool, index: LogIndex, hintIndex: LogIndex)
  /// A leader's heartbeat. `commitIndex` never exceeds what the follower is known to hold;
  /// `readRound` confirms leadership for ReadIndex requests.
  case heartbeat(commitIndex: LogIndex, readRound: UInt64)
  /// The answer to a heartbeat, echoing its `readRound`.
  case heartbeatResponse(readRound: UInt64)
  /// InstallSnapshot: replaces the follower's log prefix (the transport may chunk `data`).
  case installSnapshot(Snapshot)
  /// Leadership transfer: the recipient campaigns immediately, skipping PreVote.
  case timeoutNow
}
