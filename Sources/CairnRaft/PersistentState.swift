/// What a server read back from disk to (re)construct a node: exactly what earlier
/// `RaftEffects` asked it to persist.
public struct PersistentState: Sendable, Equatable, Codable {
  /// The last persisted hard state.
  public var hardState: HardState
  /// The latest persisted snapshot; for a brand-new group, metadata at index 0 holding the
  /// initial membership and empty data. A node joining an existing group uses
  /// `Membership.empty` and learns the configuration from the leader.
  public var snapshot: Snapshot
  /// The persisted entries after the snapshot, contiguous from `snapshot.metadata.index + 1`.
  public var entries: [LogEntry]
  /// How far the state machine has applied, when it persists its own state; defaults to the
  /// snapshot index (the state machine is restored from the snapshot).
  public var appliedIndex: LogIndex?

  /// Creates a persisted state.
  public init(
    hardState: HardState, snapshot: Snapshot, entries: [LogEntry], appliedIndex: LogIndex? = nil
  ) {
    self.hardState = hardState
    self.snapshot = snapshot
    self.entries = entries
    self.appliedIndex = appliedIndex
  }

  /// The state of a node of a brand-new group whose voters are `voters`.
  public static func bootstrap(voters: [NodeID]) -> PersistentState {
    PersistentState(
      hardState: HardState(),
      snapshot: Snapshot(
        metadata: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: voters)),
        data: []),
      entries: [])
  }

  /// The state of a node joining an existing group; it waits to hear from the leader.
  public static var joining: PersistentState { bootstrap(voters: []) }
}
