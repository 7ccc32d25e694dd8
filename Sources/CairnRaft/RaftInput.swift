/// Everything that can happen to a node. The server feeds these to `RaftNode.step(_:)`.
public enum RaftInput: Sendable, Equatable, Codable {
  /// One unit of logical time passed (the server calls this on a fixed interval).
  case tick
  /// A message arrived from a peer.
  case message(Message)
  /// A client command. `id` is the caller's handle, echoed in `RaftEffects.proposals`.
  case propose(id: UInt64, command: [UInt8])
  /// Add or remove one voter. Accepted only by a leader with no change pending.
  case changeMembership(id: UInt64, MembershipChange)
  /// A linearizable read. The core answers with `RaftEffects.readsReady` (or `readsFailed`).
  case readIndex(id: UInt64)
  /// Asks the leader to hand leadership to `target`.
  case transferLeadership(to: NodeID)
  /// The application took a snapshot of its state at `appliedIndex` (which it has applied);
  /// the core compacts its log through that index.
  case compact(appliedIndex: LogIndex, data: [UInt8])
  /// Start an election now (as if the election timeout fired), with PreVote if enabled.
  case campaign
}
