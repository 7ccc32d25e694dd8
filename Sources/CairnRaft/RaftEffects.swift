/// The batch of work a `step` asks the server to carry out, **in this order**:
///
/// 1. Persist and fsync, atomically or in this order: `snapshotToPersist` (then delete the log
///    entries it covers — all of them when `installsSnapshot` is true), `entriesToPersist`
///    (first deleting any persisted entry at or after the first new index), then `hardState`.
/// 2. Only then send `messages` (in any order; the network may reorder them anyway).
/// 3. If `installsSnapshot`, restore the state machine from `snapshotToPersist`.
/// 4. Apply `committedEntries` in order. The core counts them as applied once returned.
/// 5. Answer `readsReady` (state as of at least each read's index — guaranteed applied by now),
///    `readsFailed`, and report `proposals` to clients.
///
/// The next `step` may be called before step 1 completes only if nothing of steps 2–5 of any
/// later batch happens before it completes (a pipelined server holds outputs back in order).
/// If the process crashes, everything not yet fsynced may be lost, which is safe because
/// nothing that depended on it left the process.
public struct RaftEffects: Sendable, Equatable {
  /// The new hard state, when it changed.
  public var hardState: HardState?
  /// A snapshot to persist: one received from the leader or one the application gave.
  public var snapshotToPersist: Snapshot?
  /// True when `snapshotToPersist` came from the leader: discard the whole log and restore
  /// the state machine from it.
  public var installsSnapshot: Bool
  /// Entries to append durably, contiguous and ascending; they replace any persisted entries
  /// at the same or later indexes.
  public var entriesToPersist: [LogEntry]
  /// Messages to send once the above is durable.
  public var messages: [Message]
  /// Newly committed entries to apply, in log order.
  public var committedEntries: [LogEntry]
  /// ReadIndex requests now safe to serve.
  public var readsReady: [ReadState]
  /// ReadIndex requests that cannot be served by this node.
  public var readsFailed: [ReadFailure]
  /// Outcomes of the proposals and membership changes given to this step.
  public var proposals: [ProposalOutcome]

  /// An empty batch.
  public init() {
    hardState = nil
    snapshotToPersist = nil
    installsSnapshot = false
    entriesToPersist = []
    messages = []
    committedEntries = []
    readsReady = []
    readsFailed = []
    proposals = []
  }

  /// Whether the batch asks for nothing at all.
  public var isEmpty: Bool {
    hardState == nil && snapshotToPersist == nil && entriesToPersist.isEmpty && messages.isEmpty
      && committedEntries.isEmpty && readsReady.isEmpty && readsFailed.isEmpty
      && proposals.isEmpty
  }

  /// Whether step 1 of the contract has anything to write.
  public var needsPersistence: Bool {
    hardState != nil || snapshotToPersist != nil || !entriesToPersist.isEmpty
  }
}

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

/// What happened to a proposal or a membership change.
public enum ProposalOutcome: Sendable, Equatable, Codable {
  /// Appended at (`index`, `term`); it is committed when an entry with that index and term
  /// appears in `committedEntries`, and lost if a different entry does.
  case appended(id: UInt64, index: LogIndex, term: Term)
  /// Refused; nothing was appended.
  case rejected(id: UInt64, reason: RaftRejection)
}
