import CairnCore

/// Requests in `.raft` frames: Raft traffic between metadata servers, and the operator and
/// test requests that concern one member (status, membership, leadership, local reads).
public enum RaftRequest: Codable, Sendable, Equatable {
  /// Raft messages for the receiving member: `RaftWireCodec.encode([CairnRaft.Message])`
  /// (opaque here so the wire module does not depend on the Raft core). Answered `.ok` on receipt.
  case messages([UInt8])
  /// This member's Raft status.
  case status
  /// Adds a voter (`id` answering at `address`); only the leader accepts it.
  case addMember(id: UInt64, address: String)
  /// Removes a voter; only the leader accepts it.
  case removeMember(id: UInt64)
  /// Hands leadership to `id` (nil: the most up-to-date follower); only the leader accepts it.
  case transferLeader(to: UInt64?)
  /// A metadata read answered from this member's own applied state, without any leader check
  /// (consistency checks across replicas; may be stale on a follower).
  case localRead(MetaRequest)
  /// Starts a snapshot transfer from the leader: an encoded `installSnapshot` `Message` whose
  /// snapshot data is the checkpoint's manifest. Then come the chunks, then `snapshotEnd`.
  case snapshotBegin([UInt8])
  /// One encoded `SnapshotChunk` of the transfer in progress (files in manifest order).
  case snapshotChunk([UInt8])
  /// Ends the transfer: the receiver verifies every file and installs the snapshot.
  case snapshotEnd
}

/// Answers to `RaftRequest`s.
public enum RaftResponse: Codable, Sendable, Equatable {
  case ok
  case status(MetaMemberStatus)
  case meta(MetaResponse)
}

/// One metadata server as it sees itself (`cairn cluster status`).
public struct MetaMemberStatus: Codable, Sendable, Equatable {
  /// A voter and its address.
  public struct Member: Codable, Sendable, Equatable {
    public var id: UInt64
    public var address: String
    public init(id: UInt64, address: String) {
      self.id = id
      self.address = address
    }
  }

  /// How the leader sees one follower.
  public struct Progress: Codable, Sendable, Equatable {
    public var id: UInt64
    public var matchIndex: UInt64
    public var lag: UInt64
    public var state: String
    public init(id: UInt64, matchIndex: UInt64, lag: UInt64, state: String) {
      self.id = id
      self.matchIndex = matchIndex
      self.lag = lag
      self.state = state
    }
  }

  public var id: UInt64
  public var address: String
  /// follower, preCandidate, candidate or leader.
  public var role: String
  public var term: UInt64
  /// 0 when unknown.
  public var leaderId: UInt64
  public var leaderAddress: String
  public var commitIndex: UInt64
  public var appliedIndex: UInt64
  public var lastIndex: UInt64
  public var snapshotIndex: UInt64
  public var members: [Member]
  /// Followers' progress; empty unless this member leads.
  public var progress: [Progress]
  /// Synced Raft log writes since this process started, and the entries they carried: with
  /// group commit, many entries share one write (one fsync).
  public var syncedWrites: UInt64 = 0
  public var entriesWritten: UInt64 = 0

  public init(
    id: UInt64, address: String, role: String, term: UInt64, leaderId: UInt64, leaderAddress: String,
    commitIndex: UInt64, appliedIndex: UInt64, lastIndex: UInt64, snapshotIndex: UInt64, members: [Member],
    progress: [Progress]
  ) {
    self.id = id
    self.address = address
    self.role = role
    self.term = term
    self.leaderId = leaderId
    self.leaderAddress = leaderAddress
    self.commitIndex = commitIndex
    self.appliedIndex = appliedIndex
    self.lastIndex = lastIndex
    self.snapshotIndex = snapshotIndex
    self.members = members
    self.progress = progress
  }
}
