/// A pure Raft state machine for one member of a group.
///
/// It performs no I/O, reads no clock and has no randomness beyond `RaftOptions.randomSeed`.
/// The server feeds it inputs with `step(_:)` and carries out the returned `RaftEffects`
/// following the contract documented there. See docs/raft.md.
public struct RaftNode: Sendable {
  /// The role of a node in its current term.
  public enum Role: String, Sendable, Equatable, Codable {
    case follower, preCandidate, candidate, leader
  }

  /// A ReadIndex request waiting for its leadership confirmation.
  struct PendingRead: Sendable {
    var id: UInt64
    /// The commit index when the read was accepted; nil until the leader has committed an
    /// entry of its own term (before that, its commit index may be stale).
    var index: LogIndex?
    var round: UInt64
  }

  /// The node's options and bounds.
  public let options: RaftOptions
  /// The role in the current term.
  public internal(set) var role: Role = .follower
  /// The current term.
  public internal(set) var term: Term
  /// The candidate voted for in `term`.
  public internal(set) var votedFor: NodeID
  /// The leader of `term` as far as this node knows, or `.none`.
  public internal(set) var leaderID: NodeID = .none
  /// The membership in effect: that of the last membership entry in the log (appended, not
  /// necessarily committed), or of the snapshot.
  public internal(set) var membership: Membership

  var log: RaftLog
  var progress: [NodeID: Progress] = [:]
  var votes: [NodeID: Bool] = [:]
  var electionElapsed = 0
  var heartbeatElapsed = 0
  var randomizedElectionTimeout = 0
  var randomState: UInt64
  var transferTarget: NodeID = .none
  var transferElapsed = 0
  var readRound: UInt64 = 0
  var pendingReads: [PendingRead] = []
  var confirmedReads: [ReadState] = []
  var effects = RaftEffects()
  var persistedHardState: HardState

  /// Reconstructs a node from what earlier effects persisted (or a bootstrap state).
  public init(options: RaftOptions, state: PersistentState) {
    self.options = options
    self.term = state.hardState.term
    self.votedFor = state.hardState.votedFor
    self.persistedHardState = state.hardState
    self.log = RaftLog(
      snapshot: state.snapshot, entries: state.entries, commitIndex: state.hardState.commitIndex,
      appliedIndex: state.appliedIndex ?? state.snapshot.metadata.index)
    self.membership = log.membership(through: log.lastIndex)
    self.randomState = options.randomSeed ^ (options.id.rawValue &* 0x9E37_79B9_7F4A_7C15)
    resetRandomizedElectionTimeout()
  }

  /// This node's id.
  public var id: NodeID { options.id }
  /// Whether this node is the leader of its term.
  public var isLeader: Bool { role == .leader }
  /// The highest index known committed.
  public var commitIndex: LogIndex { log.commitIndex }
  /// The highest index handed to the application in `committedEntries`.
  public var appliedIndex: LogIndex { log.appliedIndex }
  /// The last index in the log.
  public var lastIndex: LogIndex { log.lastIndex }
  /// The term of the last entry in the log.
  public var lastTerm: Term { log.lastTerm }
  /// The metadata of the latest snapshot (compaction point).
  public var snapshotMetadata: SnapshotMetadata { log.snapshot.metadata }
  /// The term of the entry at `index`, or nil when compacted away or beyond the log.
  public func term(at index: LogIndex) -> Term? { log.term(at: index) }
  /// The entry at `index`, or nil when compacted away or beyond the log (for inspection).
  public func entry(at index: LogIndex) -> LogEntry? { log.entry(at: index) }
  /// The replication progress the leader tracks for `peer`: (match, next), nil if none.
  public func replicationProgress(of peer: NodeID) -> (match: LogIndex, next: LogIndex)? {
    progress[peer].map { ($0.match, $0.next) }
  }

  /// Feeds one input to the node and returns the work the server must do, in the order and
  /// under the durability rules documented on `RaftEffects`.
  public mutating func step(_ input: RaftInput) -> RaftEffects {
    effects = RaftEffects()
    switch input {
    case .tick: tick()
    case .message(let message): receive(message)
    case .propose(let id, let command): propose(id: id, payload: .command(command))
    case .changeMembership(let id, let change): changeMembership(id: id, change)
    case .readIndex(let id): readIndex(id: id)
    case .transferLeadership(let target): transferLeadership(to: target)
    case .compact(let index, let data): compact(appliedIndex: index, data: data)
    case .campaign: if role != .leader { campaign(isLeadershipTransfer: false) }
    }
    return finishStep()
  }

  private mutating func finishStep() -> RaftEffects {
    if role == .leader && !membership.contains(id)
      && log.lastMembershipChangeIndex(after: log.commitIndex) == nil
    {
      // The leader's own removal is committed (Raft §4.2.2): step down.
      becomeFollower(term: term, leader: .none)
    }
    effects.entriesToPersist = log.takeUnpersisted()
    let hardState = HardState(term: term, votedFor: votedFor, commitIndex: log.commitIndex)
    if hardState != persistedHardState {
      effects.hardState = hardState
      persistedHardState = hardState
    }
    effects.committedEntries = log.takeCommittedForApplication()
    if !confirmedReads.isEmpty {
      let applied = log.appliedIndex
      effects.readsReady = confirmedReads.filter { $0.index <= applied }
      confirmedReads.removeAll { $0.index <= applied }
    }
    checkInvariants()
    let result = effects
    effects = RaftEffects()
    return result
  }

  private func checkInvariants() {
    precondition(log.appliedIndex <= log.commitIndex && log.commitIndex <= log.lastIndex)
    precondition(log.snapshotIndex <= log.appliedIndex)
    precondition(role != .leader || (leaderID == id && votedFor == id), "leader state broken")
    precondition(role != .candidate || votedFor == id, "candidate must vote for itself")
    precondition(log.lastTerm <= term, "log holds an entry from a future term")
    precondition(pendingReads.count + confirmedReads.count <= options.maxPendingReads + 1)
  }

  // MARK: - Ticks

  private mutating func tick() {
    if role == .leader {
      tickLeader()
      return
    }
    electionElapsed += 1
    if membership.contains(id) && electionElapsed >= randomizedElectionTimeout {
      electionElapsed = 0
      campaign(isLeadershipTransfer: false)
    } else if role == .preCandidate {
      // A peer still inside its leader lease drops a pre-vote without answering; ask again
      // every heartbeat interval instead of waiting for another election timeout.
      heartbeatElapsed += 1
      if heartbeatElapsed >= options.heartbeatTicks {
        heartbeatElapsed = 0
        resendPreVoteRequests()
      }
    }
  }

  private mutating func tickLeader() {
    heartbeatElapsed += 1
    electionElapsed += 1
    if transferTarget != .none {
      transferElapsed += 1
      if transferElapsed >= options.electionTicks { transferTarget = .none }
    }
    for peer in peers {
      guard var peerProgress = progress[peer], peerProgress.state == .snapshot else { continue }
      peerProgress.snapshotTicks += 1
      if peerProgress.snapshotTicks >= options.electionTicks { peerProgress.becomeProbe() }
      progress[peer] = peerProgress
    }
    if electionElapsed >= options.electionTicks {
      electionElapsed = 0
      if options.isCheckQuorumEnabled {
        guard hasActiveQuorum() else {
          becomeFollower(term: term, leader: .none)
          return
        }
      }
      for peer in peers { progress[peer]?.isRecentlyActive = false }
    }
    if heartbeatElapsed >= options.heartbeatTicks {
      heartbeatElapsed = 0
      broadcastHeartbeat()
    }
  }

  private func hasActiveQuorum() -> Bool {
    let active = membership.voters.filter { $0 == id || progress[$0]?.isRecentlyActive == true }
    return active.count >= membership.quorum
  }

  /// The other members a leader replicates to, in a deterministic order.
  var peers: [NodeID] { membership.voters.filter { $0 != id } }

  mutating func resetRandomizedElectionTimeout() {
    // SplitMix64 step on the node's own seeded state: deterministic, no global randomness.
    randomState &+= 0x9E37_79B9_7F4A_7C15
    var z = randomState
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    randomizedElectionTimeout =
      options.electionTicks + Int(z % UInt64(options.electionTicks))
  }

  mutating func emit(_ kind: MessageKind, to peer: NodeID, term messageTerm: Term? = nil) {
    effects.messages.append(
      Message(from: id, to: peer, term: messageTerm ?? term, kind: kind))
  }
}
