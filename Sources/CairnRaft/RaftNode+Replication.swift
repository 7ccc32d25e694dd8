/// Log replication (Raft §5.3), commitment (§5.4.2) and snapshots (§7), both sides.
extension RaftNode {
  // MARK: - Follower side

  /// Handles an append, heartbeat or snapshot from the leader of the current term.
  mutating func handleLeaderMessage(_ message: Message) {
    switch message.kind {
    case .appendRequest(let previousIndex, let previousTerm, let entries, let leaderCommit):
      guard
        Self.isWellFormed(
          entries, after: previousIndex, previousTerm: previousTerm, term: message.term)
      else {
        return  // A malformed append from a faulty peer is dropped, never trusted.
      }
      if previousIndex < log.commitIndex {
        // Everything through our commit index is settled; tell the leader where we are.
        emit(
          .appendResponse(success: true, index: log.commitIndex, hintIndex: 0), to: message.from)
        return
      }
      guard log.matches(index: previousIndex, term: previousTerm) else {
        let hint = log.conflictHint(index: previousIndex, term: previousTerm)
        emit(
          .appendResponse(success: false, index: previousIndex, hintIndex: hint), to: message.from)
        return
      }
      let hasMembershipEntry = entries.contains {
        if case .membershipChange = $0.payload { return true } else { return false }
      }
      let truncated = log.merge(entries)
      if truncated || hasMembershipEntry {
        // A membership takes effect when appended, and is undone when truncated away.
        membership = log.membership(through: log.lastIndex)
      }
      let lastNewIndex = previousIndex + LogIndex(entries.count)
      log.commit(to: min(leaderCommit, lastNewIndex))
      emit(.appendResponse(success: true, index: lastNewIndex, hintIndex: 0), to: message.from)
    case .heartbeat(let commitIndex, let readRound):
      log.commit(to: min(commitIndex, log.lastIndex))
      emit(.heartbeatResponse(readRound: readRound), to: message.from)
    case .installSnapshot(let snapshot):
      installSnapshot(snapshot, from: message.from)
    default:
      preconditionFailure("not a leader message")
    }
  }

  /// Entries must follow `previousIndex` contiguously with terms that never decrease and
  /// never exceed the sender's term.
  static func isWellFormed(
    _ entries: [LogEntry], after previousIndex: LogIndex, previousTerm: Term, term: Term
  ) -> Bool {
    var expectedIndex = previousIndex + 1
    var lastTerm = previousTerm
    for entry in entries {
      guard entry.index == expectedIndex, entry.term >= lastTerm, entry.term <= term else {
        return false
      }
      expectedIndex += 1
      lastTerm = entry.term
    }
    return true
  }

  private mutating func installSnapshot(_ snapshot: Snapshot, from leader: NodeID) {
    let metadata = snapshot.metadata
    if metadata.index <= log.commitIndex {
      emit(.appendResponse(success: true, index: log.commitIndex, hintIndex: 0), to: leader)
      return
    }
    if log.matches(index: metadata.index, term: metadata.term) {
      // Our log already holds the snapshot's last entry: just learn it is committed.
      log.commit(to: metadata.index)
      emit(.appendResponse(success: true, index: log.commitIndex, hintIndex: 0), to: leader)
      return
    }
    log.restore(snapshot)
    membership = metadata.membership
    effects.snapshotToPersist = snapshot
    effects.installsSnapshot = true
    emit(.appendResponse(success: true, index: metadata.index, hintIndex: 0), to: leader)
  }

  // MARK: - Leader side

  /// Appends a new entry of the current term and replicates it.
  mutating func appendAsLeader(_ payload: EntryPayload) {
    precondition(role == .leader)
    let entry = LogEntry(index: log.lastIndex + 1, term: term, payload: payload)
    log.append(entry)
    if case .membershipChange = payload {
      membership = log.membership(through: entry.index)
      for peer in peers where progress[peer] == nil {
        progress[peer] = Progress(next: log.lastIndex)
      }
      for tracked in progress.keys.sorted() where !membership.contains(tracked) {
        progress[tracked] = nil
        if transferTarget == tracked { transferTarget = .none }
      }
    }
    if !maybeCommit() { broadcastAppend() }
  }

  /// Handles an append or heartbeat response from a follower of our term.
  mutating func handleFollowerResponse(_ message: Message) {
    guard var peerProgress = progress[message.from] else { return }
    peerProgress.isRecentlyActive = true
    switch message.kind {
    case .heartbeatResponse(let readRound):
      peerProgress.acknowledgedReadRound = max(peerProgress.acknowledgedReadRound, readRound)
      peerProgress.isProbeSent = false
      if peerProgress.state == .replicate
        && peerProgress.inflight.count >= options.maxInflightAppends
      {
        // An append may have been lost: free one slot so replication cannot stall forever.
        peerProgress.inflight.removeFirst()
      }
      progress[message.from] = peerProgress
      confirmReads()
      if peerProgress.match < log.lastIndex { sendAppend(to: message.from) }
    case .appendResponse(let success, let index, let hintIndex):
      if !success {
        let isBackOff = peerProgress.backOff(rejected: index, hint: hintIndex)
        progress[message.from] = peerProgress
        if isBackOff { sendAppend(to: message.from) }
        return
      }
      let wasPaused = peerProgress.isPaused(maxInflight: options.maxInflightAppends)
      guard peerProgress.acknowledge(through: index) else {
        progress[message.from] = peerProgress
        return
      }
      switch peerProgress.state {
      case .probe:
        peerProgress.becomeReplicate()
      case .snapshot where peerProgress.match >= peerProgress.pendingSnapshotIndex:
        peerProgress.becomeReplicate()
      default:
        break
      }
      progress[message.from] = peerProgress
      if maybeCommit() {
        // broadcastAppend already refilled every window.
      } else if wasPaused || peerProgress.state == .replicate {
        while sendAppend(to: message.from, sendsEmpty: false) {}
      }
      if message.from == transferTarget && peerProgress.match == log.lastIndex {
        emit(.timeoutNow, to: message.from)
      }
    default:
      preconditionFailure("not a follower response")
    }
  }

  /// Raft §5.3/§5.4.2: commit the highest index a quorum holds, if it is from our term.
  /// Returns whether the commit index advanced (and then broadcasts the new commit index).
  @discardableResult
  mutating func maybeCommit() -> Bool {
    let voters = membership.voters
    guard !voters.isEmpty else { return false }
    let matches = voters.map { $0 == id ? log.lastIndex : (progress[$0]?.match ?? 0) }
      .sorted(by: >)
    let quorumIndex = matches[membership.quorum - 1]
    guard quorumIndex > log.commitIndex, log.term(at: quorumIndex) == term else { return false }
    log.commit(to: quorumIndex)
    assignReadIndexesIfCommittedInTerm()
    broadcastAppend()
    return true
  }

  /// Sends new entries (or just the commit index) to every follower whose window allows.
  mutating func broadcastAppend() {
    for peer in peers {
      if !sendAppend(to: peer) { continue }
      while sendAppend(to: peer, sendsEmpty: false) {}
    }
  }

  mutating func broadcastHeartbeat() {
    for peer in peers {
      guard let peerProgress = progress[peer] else { continue }
      let commit = min(peerProgress.match, log.commitIndex)
      emit(.heartbeat(commitIndex: commit, readRound: readRound), to: peer)
    }
  }

  /// Sends one append (or a snapshot) to `peer` if its flow control allows.
  /// Returns whether a message was sent.
  @discardableResult
  mutating func sendAppend(to peer: NodeID, sendsEmpty: Bool = true) -> Bool {
    guard var peerProgress = progress[peer],
      !peerProgress.isPaused(maxInflight: options.maxInflightAppends)
    else { return false }
    let previousIndex = peerProgress.next - 1
    guard let previousTerm = log.term(at: previousIndex) else {
      // The entries this follower needs were compacted away: send the snapshot (§7).
      peerProgress.becomeSnapshot(index: log.snapshotIndex)
      progress[peer] = peerProgress
      emit(.installSnapshot(log.snapshot), to: peer)
      return true
    }
    let entries = log.entries(
      from: peerProgress.next, maxCount: options.maxEntriesPerAppend,
      maxBytes: options.maxAppendBytes)
    if entries.isEmpty && !sendsEmpty { return false }
    if let last = entries.last?.index, peerProgress.state == .replicate {
      peerProgress.next = last + 1
      peerProgress.inflight.append(last)
    } else if peerProgress.state == .probe {
      peerProgress.isProbeSent = true
    }
    progress[peer] = peerProgress
    emit(
      .appendRequest(
        previousIndex: previousIndex, previousTerm: previousTerm, entries: entries,
        leaderCommit: log.commitIndex),
      to: peer)
    return true
  }
}
