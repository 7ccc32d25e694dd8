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
/// A batch may refer to what the same step wrote (a leader counts its own new entries toward
/// commitment, so `committedEntries` can include entries of `entriesToPersist`); that is why
/// the order matters. The next `step` may be called before step 1 completes, provided steps
/// 2–5 of this batch and of every later batch wait until this batch is durable (a pipelined
/// server releases outputs in batch order after each fsync). If the process crashes, whatever
/// was not fsynced may be lost, which is safe because nothing that depended on it left the
/// process. Keep the latest snapshot's data: a restarted leader needs it to catch followers up.
public struct RaftEffects: Sendable, Equatable, Codable {
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
