/// Describes the log prefix a snapshot replaces.
public struct SnapshotMetadata: Codable, Sendable, Equatable {
  /// The last log index the snapshot covers.
  public var index: LogIndex
  /// The term of the entry at `index`.
  public var term: Term
  /// The membership in effect at `index`.
  public var membership: Membership

  /// Creates snapshot metadata.
  public init(index: LogIndex, term: Term, membership: Membership) {
    self.index = index
    self.term = term
    self.membership = membership
  }
}

/// A state-machine snapshot: opaque application bytes plus the metadata Raft needs.
public struct Snapshot: Codable, Sendable, Equatable {
  /// Where the snapshot sits in the log.
  public var metadata: SnapshotMetadata
  /// The application's serialized state, opaque to Raft.
  public var data: [UInt8]

  /// Creates a snapshot.
  public init(metadata: SnapshotMetadata, data: [UInt8]) {
    self.metadata = metadata
    self.data = data
  }
}
