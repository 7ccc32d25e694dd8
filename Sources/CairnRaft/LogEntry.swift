/// What a log entry carries. Commands are opaque to Raft.
public enum EntryPayload: Codable, Sendable, Equatable {
  /// An application command, opaque bytes handed back when committed.
  case command([UInt8])
  /// A single-voter membership change and the complete membership it results in; it takes
  /// effect as soon as it is appended. Carrying the result (not only the delta) lets a node
  /// that joined with no configuration derive the right membership from the log alone.
  case membershipChange(MembershipChange, resulting: Membership)
  /// The empty entry a new leader appends so it can commit entries of earlier terms.
  case noop
}

/// One entry of the replicated log.
public struct LogEntry: Codable, Sendable, Equatable {
  /// The entry's position in the log.
  public var index: LogIndex
  /// The term of the leader that created the entry.
  public var term: Term
  /// What the entry carries.
  public var payload: EntryPayload

  /// Creates an entry; `index` must be at least 1.
  public init(index: LogIndex, term: Term, payload: EntryPayload) {
    precondition(index > 0, "log indexes start at 1")
    self.index = index
    self.term = term
    self.payload = payload
  }

  /// Bytes counted against `RaftOptions.maxAppendBytes` (payload size, approximately).
  public var sizeBytes: Int {
    switch payload {
    case .command(let bytes): return bytes.count + 16
    case .membershipChange(_, let membership): return 32 + 8 * membership.voters.count
    case .noop: return 16
    }
  }
}
