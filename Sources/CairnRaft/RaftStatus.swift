/// A read-only summary of a node for operators (`cairn cluster status`) and metrics.
public struct RaftStatus: Sendable, Equatable, Codable {
  /// How a leader sees one follower.
  public struct PeerStatus: Sendable, Equatable, Codable {
    /// The follower.
    public var id: NodeID
    /// The highest index known replicated on it.
    public var matchIndex: LogIndex
    /// The next index the leader will send it.
    public var nextIndex: LogIndex
    /// "probe", "replicate" or "snapshot" (etcd's flow-control states).
    public var replicationState: String
    /// Entries it lags behind the leader's last index.
    public var lag: LogIndex
  }

  /// The node described.
  public var id: NodeID
  /// Its role in `term`.
  public var role: RaftNode.Role
  /// Its current term.
  public var term: Term
  /// The leader it knows of, or `.none`.
  public var leaderID: NodeID
  /// The membership in effect on it.
  public var membership: Membership
  /// Its commit index.
  public var commitIndex: LogIndex
  /// Its applied index (entries handed to the application).
  public var appliedIndex: LogIndex
  /// Its last log index.
  public var lastIndex: LogIndex
  /// The index its latest snapshot covers.
  public var snapshotIndex: LogIndex
  /// Followers' progress; empty unless this node leads.
  public var peers: [PeerStatus]
}

extension RaftNode {
  /// A summary of this node: role, term, indexes and, on a leader, each follower's lag.
  public var status: RaftStatus {
    let peerStatuses = peers.compactMap { peer -> RaftStatus.PeerStatus? in
      guard let tracked = progress[peer] else { return nil }
      let state: String
      switch tracked.state {
      case .probe: state = "probe"
      case .replicate: state = "replicate"
      case .snapshot: state = "snapshot"
      }
      return RaftStatus.PeerStatus(
        id: peer, matchIndex: tracked.match, nextIndex: tracked.next, replicationState: state,
        lag: log.lastIndex - min(tracked.match, log.lastIndex))
    }
    return RaftStatus(
      id: id, role: role, term: term, leaderID: leaderID, membership: membership,
      commitIndex: log.commitIndex, appliedIndex: log.appliedIndex, lastIndex: log.lastIndex,
      snapshotIndex: log.snapshotIndex, peers: peerStatuses)
  }
}
