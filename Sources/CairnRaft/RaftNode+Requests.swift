/// Client-facing requests: proposals, membership changes, ReadIndex, transfer, compaction.
extension RaftNode {
  /// Refusal reason shared by leader-only requests, or nil when this leader can accept.
  private var leaderRefusal: RaftRejection? {
    if role != .leader { return .notLeader(leader: leaderID) }
    if transferTarget != .none { return .transferInProgress }
    return nil
  }

  mutating func propose(id requestID: UInt64, payload: EntryPayload) {
    if let reason = leaderRefusal {
      effects.proposals.append(.rejected(id: requestID, reason: reason))
      return
    }
    guard log.lastIndex - log.commitIndex < LogIndex(options.maxUncommittedEntries) else {
      effects.proposals.append(.rejected(id: requestID, reason: .overloaded))
      return
    }
    appendAsLeader(payload)
    effects.proposals.append(.appended(id: requestID, index: log.lastIndex, term: term))
  }

  /// Single-server membership change (Raft §4.1). One at a time: refused while an earlier
  /// change is uncommitted, and until the leader has committed an entry of its own term (the
  /// fix for the single-server change bug Ongaro described in 2015).
  mutating func changeMembership(id requestID: UInt64, _ change: MembershipChange) {
    if let reason = leaderRefusal {
      effects.proposals.append(.rejected(id: requestID, reason: reason))
      return
    }
    let isSettled =
      log.lastMembershipChangeIndex(after: log.commitIndex) == nil
      && log.term(at: log.commitIndex) == term
    guard isSettled else {
      effects.proposals.append(.rejected(id: requestID, reason: .membershipChangePending))
      return
    }
    let isValid: Bool
    switch change {
    case .addVoter(let node): isValid = node != .none && !membership.contains(node)
    case .removeVoter(let node): isValid = membership.contains(node) && membership.voters.count > 1
    }
    guard isValid else {
      effects.proposals.append(.rejected(id: requestID, reason: .invalidMembershipChange))
      return
    }
    propose(
      id: requestID, payload: .membershipChange(change, resulting: membership.applying(change)))
  }

  /// Leadership transfer (Raft §3.10): bring `target` up to date, then send it TimeoutNow.
  /// Proposals are refused meanwhile; the transfer is abandoned after an election timeout.
  mutating func transferLeadership(to target: NodeID) {
    guard role == .leader, target != id, progress[target] != nil,
      transferTarget != target
    else { return }
    transferTarget = target
    transferElapsed = 0
    if progress[target]?.match == log.lastIndex {
      emit(.timeoutNow, to: target)
    } else {
      sendAppend(to: target)
    }
  }

  /// The application snapshotted its state at `appliedIndex`: compact the log through it.
  mutating func compact(appliedIndex: LogIndex, data: [UInt8]) {
    precondition(appliedIndex <= log.appliedIndex, "cannot snapshot beyond the applied index")
    guard appliedIndex > log.snapshotIndex, let snapshotTerm = log.term(at: appliedIndex) else {
      return
    }
    let snapshot = Snapshot(
      metadata: SnapshotMetadata(
        index: appliedIndex, term: snapshotTerm, membership: log.membership(through: appliedIndex)),
      data: data)
    log.compact(to: snapshot)
    effects.snapshotToPersist = snapshot
    effects.installsSnapshot = false
  }

  // MARK: - ReadIndex (Raft §6.4)

  /// Accepts a linearizable read. Its index is the commit index once the leader has committed
  /// an entry of its own term; it is ready once a quorum answered a heartbeat sent after it
  /// arrived and the application has applied through its index.
  mutating func readIndex(id requestID: UInt64) {
    guard role == .leader else {
      effects.readsFailed.append(
        ReadFailure(id: requestID, reason: .notLeader(leader: leaderID)))
      return
    }
    guard pendingReads.count + confirmedReads.count < options.maxPendingReads else {
      effects.readsFailed.append(ReadFailure(id: requestID, reason: .overloaded))
      return
    }
    guard log.term(at: log.commitIndex) == term else {
      pendingReads.append(PendingRead(id: requestID, index: nil, round: 0))
      return
    }
    readRound += 1
    pendingReads.append(PendingRead(id: requestID, index: log.commitIndex, round: readRound))
    confirmReads()
    if !pendingReads.isEmpty { broadcastHeartbeat() }
  }

  /// Gives waiting reads their index once the leader has committed in its own term.
  mutating func assignReadIndexesIfCommittedInTerm() {
    guard role == .leader, log.term(at: log.commitIndex) == term,
      pendingReads.contains(where: { $0.index == nil })
    else { return }
    readRound += 1
    for position in pendingReads.indices where pendingReads[position].index == nil {
      pendingReads[position].index = log.commitIndex
      pendingReads[position].round = readRound
    }
    confirmReads()
    if !pendingReads.isEmpty { broadcastHeartbeat() }
  }

  /// Moves reads whose round a quorum acknowledged to the confirmed list.
  mutating func confirmReads() {
    guard role == .leader, !pendingReads.isEmpty else { return }
    let voters = membership.voters
    guard !voters.isEmpty else { return }
    let rounds = voters.map { $0 == id ? readRound : (progress[$0]?.acknowledgedReadRound ?? 0) }
      .sorted(by: >)
    let confirmedRound = rounds[membership.quorum - 1]
    var waiting: [PendingRead] = []
    for read in pendingReads {
      if let index = read.index, read.round <= confirmedRound {
        confirmedReads.append(ReadState(id: read.id, index: index))
      } else {
        waiting.append(read)
      }
    }
    pendingReads = waiting
  }

  /// Reads not yet confirmed cannot be confirmed once leadership is lost.
  mutating func failUnconfirmedReads() {
    for read in pendingReads {
      effects.readsFailed.append(ReadFailure(id: read.id, reason: .leadershipLost))
    }
    pendingReads = []
  }
}
