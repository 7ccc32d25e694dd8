import CairnRaft

/// The invariants checked after every simulated event (Raft paper, Figure 3, plus the
/// client-visible guarantees): Election Safety, Log Matching, Leader Completeness, State
/// Machine Safety, no acknowledged write lost, and linearizable ReadIndex reads.
final class SafetyChecker {
  /// Election Safety: the one leader of each term.
  private var leaderOfTerm: [Term: NodeID] = [:]
  /// Log Matching: for each (index, term) ever written, the entry digest and previous term.
  private var entryByPosition: [UInt64: (digest: UInt64, previousTerm: Term)] = [:]
  /// State Machine Safety: the hash chain after applying each index, and each index's term.
  private(set) var chainHashes: [UInt64] = [0]
  private(set) var committedTerms: [Term] = [0]
  /// For each applied index, the lowest term any node was in when it applied it. The entry was
  /// committed in that term or earlier, so every leader of a later term must hold it.
  private var committedNoLaterThanTerm: [Term] = [0]
  /// Acknowledged writes: command id by index, and the highest acknowledged index.
  private(set) var acknowledged: [LogIndex: UInt64] = [:]
  private(set) var highestAcknowledgedIndex: LogIndex = 0
  /// Proposals appended but not yet acknowledged: node index, log index, term.
  var outstandingProposals: [UInt64: (node: Int, index: LogIndex, term: Term)] = [:]
  /// Reads in progress: the node asked and the highest acknowledged index when it began.
  var readStarts: [UInt64: (node: Int, requiredIndex: LogIndex)] = [:]

  /// Checks a node right after a step: its role and the entries it asks to persist.
  func afterStep(of raft: RaftNode, effects: RaftEffects, simulator: Simulator) {
    if raft.role == .leader {
      if let existing = leaderOfTerm[raft.term], existing != raft.id {
        simulator.fail(
          "election safety: \(existing) and \(raft.id) both lead term \(raft.term)")
        return
      }
      if leaderOfTerm[raft.term] == nil {
        leaderOfTerm[raft.term] = raft.id
        checkLeaderCompleteness(raft, simulator: simulator)
      }
    }
    for entry in effects.entriesToPersist {
      let previousTerm = raft.term(at: entry.index - 1) ?? 0
      let key = entry.index << 24 | entry.term
      let digest = SimulatedStateMachine.digest(of: entry)
      if let known = entryByPosition[key] {
        if known.digest != digest || known.previousTerm != previousTerm {
          simulator.fail(
            "log matching: \(raft.id) holds a different entry at index \(entry.index) "
              + "term \(entry.term) (or a different predecessor)")
          return
        }
      } else {
        entryByPosition[key] = (digest, previousTerm)
      }
      // A deposed leader may still append at a committed index in a term older than the
      // commit (those entries never commit). An entry from a leader of a later term than the
      // commit means that leader lacked a committed entry.
      let position = Int(entry.index)
      if position < committedTerms.count && committedTerms[position] != entry.term
        && entry.term > committedNoLaterThanTerm[position]
      {
        simulator.fail(
          "committed entry overwritten: \(raft.id) writes term \(entry.term) at committed "
            + "index \(entry.index) (term \(committedTerms[position]), committed by term "
          + "\(committedNoLaterThanTerm[position]))")
        return
      }
    }
  }

  /// Leader Completeness: a new leader's log holds every entry applied anywhere so far.
  private func checkLeaderCompleteness(_ raft: RaftNode, simulator: Simulator) {
    let highestCommitted = LogIndex(committedTerms.count - 1)
    guard raft.lastIndex >= highestCommitted else {
      simulator.fail(
        "leader completeness: \(raft.id) leads term \(raft.term) with last index "
          + "\(raft.lastIndex) < committed \(highestCommitted)")
      return
    }
    let first = raft.snapshotMetadata.index + 1
    guard first <= highestCommitted else { return }
    for index in first...highestCommitted where raft.term(at: index) != committedTerms[Int(index)] {
      simulator.fail(
        "leader completeness: \(raft.id) leads term \(raft.term) without committed entry "
          + "\(index)")
      return
    }
  }

  /// State Machine Safety and acknowledgement tracking, for one applied entry.
  func apply(_ entry: LogEntry, node: Int, simulator: Simulator) {
    let machine = simulator.nodes[node].stateMachine
    guard entry.index == machine.appliedIndex + 1 else {
      simulator.fail(
        "n\(node + 1) applies index \(entry.index) after \(machine.appliedIndex) (gap or repeat)")
      return
    }
    simulator.nodes[node].stateMachine.apply(entry)
    let hash = simulator.nodes[node].stateMachine.hash
    let position = Int(entry.index)
    let applierTerm = simulator.nodes[node].raft?.term ?? 0
    if position < chainHashes.count {
      committedNoLaterThanTerm[position] = min(committedNoLaterThanTerm[position], applierTerm)
      guard chainHashes[position] == hash else {
        simulator.fail("state machine safety: n\(node + 1) applied a different entry at \(position)")
        return
      }
    } else {
      guard position == chainHashes.count else {
        simulator.fail("n\(node + 1) applied index \(position) beyond every known state")
        return
      }
      chainHashes.append(hash)
      committedTerms.append(entry.term)
      committedNoLaterThanTerm.append(applierTerm)
    }
    guard case .command(let bytes) = entry.payload,
      let id = SimulatedStateMachine.commandID(of: bytes),
      let proposal = outstandingProposals[id], proposal.node == node
    else { return }
    outstandingProposals[id] = nil
    guard proposal.index == entry.index && proposal.term == entry.term else {
      simulator.fail("command \(id) proposed at \(proposal.index) applied at \(entry.index)")
      return
    }
    acknowledged[entry.index] = id
    highestAcknowledgedIndex = max(highestAcknowledgedIndex, entry.index)
    simulator.statistics.proposalsAcknowledged += 1
  }

  /// A state restored from a snapshot must equal the chain at its index.
  func checkRestoredState(_ machine: SimulatedStateMachine, node: Int, simulator: Simulator) {
    let position = Int(machine.appliedIndex)
    guard position < chainHashes.count, chainHashes[position] == machine.hash else {
      simulator.fail(
        "state machine safety: n\(node + 1) restored a snapshot at \(position) that matches "
          + "no applied state")
      return
    }
  }

  /// Linearizability of a ReadIndex read served now.
  func serveRead(_ read: ReadState, node: Int, simulator: Simulator) {
    guard let start = readStarts.removeValue(forKey: read.id) else { return }
    let applied = simulator.nodes[node].stateMachine.appliedIndex
    if read.index < start.requiredIndex || applied < read.index {
      simulator.fail(
        "linearizability: read \(read.id) on n\(node + 1) at index \(read.index) (applied "
          + "\(applied)) but index \(start.requiredIndex) was acknowledged before it began")
      return
    }
    simulator.statistics.readsServed += 1
  }
}
