/// Term handling, elections (PreVote, CheckQuorum's leader lease) and role changes.
extension RaftNode {
  /// Entry point for messages: applies the term rules of Raft §5.1 and dispatches.
  mutating func receive(_ message: Message) {
    guard message.to == id, message.from != id, message.from != .none else { return }
    if message.term > term {
      switch message.kind {
      case .preVoteRequest, .voteRequest:
        var isTransfer = false
        if case .voteRequest(_, _, let transfer) = message.kind { isTransfer = transfer }
        // Leader lease (Raft §4.2.3): while we hear from a leader, ignore disruptive votes.
        let isInLease =
          options.isCheckQuorumEnabled && leaderID != .none
          && electionElapsed < options.electionTicks
        if isInLease && !isTransfer { return }
        if case .voteRequest = message.kind { becomeFollower(term: message.term, leader: .none) }
      case .preVoteResponse(let granted) where granted:
        break  // Answers a pre-vote for a term we have not entered yet.
      case .appendRequest, .heartbeat, .installSnapshot:
        becomeFollower(term: message.term, leader: message.from)
      default:
        becomeFollower(term: message.term, leader: .none)
      }
    } else if message.term < term {
      switch message.kind {
      case .appendRequest, .heartbeat, .installSnapshot:
        // Tell a deposed leader about the newer term, so it steps down (needed with
        // CheckQuorum/PreVote, where our term may have moved without its knowledge).
        emit(.appendResponse(success: false, index: 0, hintIndex: 0), to: message.from)
      case .preVoteRequest:
        emit(.preVoteResponse(granted: false), to: message.from)
      default:
        break
      }
      return
    }

    switch message.kind {
    case .preVoteRequest(let lastIndex, let lastTerm):
      handleVoteRequest(message, lastIndex: lastIndex, lastTerm: lastTerm, isPreVote: true)
    case .voteRequest(let lastIndex, let lastTerm, _):
      handleVoteRequest(message, lastIndex: lastIndex, lastTerm: lastTerm, isPreVote: false)
    case .preVoteResponse(let granted):
      if role == .preCandidate { countVote(from: message.from, granted: granted) }
    case .voteResponse(let granted):
      if role == .candidate { countVote(from: message.from, granted: granted) }
    case .appendRequest, .heartbeat, .installSnapshot:
      if role != .follower { becomeFollower(term: term, leader: message.from) }
      leaderID = message.from
      electionElapsed = 0
      handleLeaderMessage(message)
    case .appendResponse, .heartbeatResponse:
      if role == .leader { handleFollowerResponse(message) }
    case .timeoutNow:
      // Leadership transfer (Raft §3.10): campaign at once, without PreVote.
      if role != .leader && membership.contains(id) {
        campaign(isLeadershipTransfer: true)
      }
    }
  }

  private mutating func handleVoteRequest(
    _ message: Message, lastIndex: LogIndex, lastTerm: Term, isPreVote: Bool
  ) {
    let canVote =
      votedFor == message.from
      || (votedFor == .none && leaderID == .none)
      || (isPreVote && message.term > term)
    let granted = canVote && log.isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
    if isPreVote {
      // A granted pre-vote answers in the proposed term; a refusal carries our own.
      emit(.preVoteResponse(granted: granted), to: message.from, term: granted ? message.term : term)
    } else {
      if granted {
        votedFor = message.from
        electionElapsed = 0
      }
      emit(.voteResponse(granted: granted), to: message.from)
    }
  }

  private mutating func countVote(from voter: NodeID, granted: Bool) {
    guard membership.contains(voter) else { return }
    votes[voter] = granted
    evaluateVotes()
  }

  private mutating func evaluateVotes() {
    var grants = 0
    var rejections = 0
    for voter in membership.voters {
      switch votes[voter] {
      case true?: grants += 1
      case false?: rejections += 1
      case nil: break
      }
    }
    if grants >= membership.quorum {
      if role == .preCandidate {
        becomeCandidate()
      } else {
        becomeLeader()
      }
    } else if rejections >= membership.quorum {
      becomeFollower(term: term, leader: .none)
    }
  }

  /// Starts an election: a pre-election first when PreVote is on (unless transferring).
  mutating func campaign(isLeadershipTransfer: Bool) {
    guard membership.contains(id) else { return }
    if options.isPreVoteEnabled && !isLeadershipTransfer {
      becomePreCandidate()
    } else {
      becomeCandidate(isLeadershipTransfer: isLeadershipTransfer)
    }
  }

  private mutating func becomePreCandidate() {
    failUnconfirmedReads()
    role = .preCandidate
    leaderID = .none
    heartbeatElapsed = 0
    resetRandomizedElectionTimeout()
    votes = [id: true]
    progress = [:]
    for peer in peers {
      emit(
        .preVoteRequest(lastIndex: log.lastIndex, lastTerm: log.lastTerm), to: peer, term: term + 1)
    }
    evaluateVotes()
  }

  /// Asks the peers that have not answered this pre-election again (same term, same log).
  mutating func resendPreVoteRequests() {
    precondition(role == .preCandidate, "only a pre-candidate resends pre-votes")
    for peer in peers where votes[peer] == nil {
      emit(
        .preVoteRequest(lastIndex: log.lastIndex, lastTerm: log.lastTerm), to: peer, term: term + 1)
    }
  }

  private mutating func becomeCandidate(isLeadershipTransfer: Bool = false) {
    reset(term: term + 1)
    role = .candidate
    votedFor = id
    votes = [id: true]
    for peer in peers {
      emit(
        .voteRequest(
          lastIndex: log.lastIndex, lastTerm: log.lastTerm,
          isLeadershipTransfer: isLeadershipTransfer),
        to: peer)
    }
    evaluateVotes()
  }

  /// Becomes a follower in `newTerm` (which may equal the current term).
  mutating func becomeFollower(term newTerm: Term, leader: NodeID) {
    reset(term: newTerm)
    role = .follower
    leaderID = leader
  }

  private mutating func becomeLeader() {
    precondition(role == .candidate, "only a candidate can win an election")
    reset(term: term)
    role = .leader
    leaderID = id
    for peer in peers {
      progress[peer] = Progress(next: log.lastIndex + 1)
    }
    // Raft §5.4.2 / §8: commit entries of earlier terms by committing one of our own.
    appendAsLeader(.noop)
  }

  private mutating func reset(term newTerm: Term) {
    if newTerm != term {
      precondition(newTerm > term, "terms only grow")
      term = newTerm
      votedFor = .none
    }
    failUnconfirmedReads()
    leaderID = .none
    votes = [:]
    progress = [:]
    electionElapsed = 0
    heartbeatElapsed = 0
    transferTarget = .none
    transferElapsed = 0
    resetRandomizedElectionTimeout()
  }
}
