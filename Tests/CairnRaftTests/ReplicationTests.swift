import CairnRaft
import XCTest

/// Log replication and commitment: Raft §5.3, §5.4.2 (Figure 8), batching and pipelining.
final class ReplicationTests: XCTestCase {
  func testCommittedEntriesAreAppliedInOrderOnEveryNode_Section5_3() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    for byte in UInt8(1)...5 { cluster.propose(1, byte) }
    cluster.tick(1, times: 2)
    cluster.deliverAll()
    for node: UInt64 in [1, 2, 3] {
      XCTAssertEqual(cluster.appliedCommands(node), [[1], [2], [3], [4], [5]], "node \(node)")
    }
  }

  func testProposalOutcomeReportsIndexAndTerm() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    let effects = cluster.step(1, .propose(id: 42, command: [1]))
    XCTAssertEqual(effects.proposals, [.appended(id: 42, index: 2, term: 1)])
    let refused = cluster.step(2, .propose(id: 43, command: [1]))
    XCTAssertEqual(refused.proposals, [.rejected(id: 43, reason: .notLeader(leader: 1))])
  }

  func testLeaderAppendsEntriesBeforeSendingThem() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    let effects = cluster.step(1, .propose(id: 1, command: [5]))
    XCTAssertEqual(effects.entriesToPersist.map(\.index), [2], "persist, then send")
    XCTAssertTrue(effects.messages.contains { message in
      if case .appendRequest(_, _, let entries, _) = message.kind { return entries.map(\.index) == [2] }
      return false
    })
  }

  /// Figure 8: a leader must not commit an entry of an earlier term by counting replicas,
  /// even when a majority stores it; only committing an entry of its own term commits it.
  func testLeaderCommitsOnlyEntriesFromItsOwnTerm_Figure8() {
    var node = RaftNode(
      options: RaftOptions(id: 1, isPreVoteEnabled: false, isCheckQuorumEnabled: false),
      state: PersistentState(
        hardState: HardState(term: 2, votedFor: .none, commitIndex: 1),
        snapshot: Snapshot(
          metadata: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: [1, 2, 3])),
          data: []),
        entries: [
          LogEntry(index: 1, term: 1, payload: .noop),
          LogEntry(index: 2, term: 2, payload: .command([2])),
        ]))
    _ = node.step(.campaign)
    _ = node.step(.message(Message(from: 2, to: 1, term: 3, kind: .voteResponse(granted: true))))
    XCTAssertTrue(node.isLeader)
    XCTAssertEqual(node.lastIndex, 3, "the new leader appended its no-op at index 3")
    // Follower 2 acknowledges index 2 only (the term-2 entry): a majority holds it ...
    let early = node.step(
      .message(
        Message(from: 2, to: 1, term: 3, kind: .appendResponse(success: true, index: 2, hintIndex: 0))))
    XCTAssertEqual(node.commitIndex, 1, "... but it is from an earlier term: not committed")
    XCTAssertTrue(early.committedEntries.isEmpty)
    // Once the term-3 no-op is on a majority, everything up to it commits.
    let late = node.step(
      .message(
        Message(from: 2, to: 1, term: 3, kind: .appendResponse(success: true, index: 3, hintIndex: 0))))
    XCTAssertEqual(node.commitIndex, 3)
    XCTAssertEqual(late.committedEntries.map(\.index), [2, 3])
  }

  func testFollowerReplacesConflictingUncommittedEntries_LogMatching_Section5_3() {
    var node = RaftNode(
      options: RaftOptions(id: 2),
      state: PersistentState(
        hardState: HardState(term: 2, votedFor: .none, commitIndex: 1),
        snapshot: Snapshot(
          metadata: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: [1, 2, 3])),
          data: []),
        entries: [
          LogEntry(index: 1, term: 1, payload: .noop),
          LogEntry(index: 2, term: 2, payload: .command([0xDE])),
          LogEntry(index: 3, term: 2, payload: .command([0xAD])),
        ]))
    let replacement = [LogEntry(index: 2, term: 3, payload: .command([7]))]
    let effects = node.step(
      .message(
        Message(
          from: 1, to: 2, term: 3,
          kind: .appendRequest(
            previousIndex: 1, previousTerm: 1, entries: replacement, leaderCommit: 2))))
    XCTAssertEqual(effects.entriesToPersist, replacement, "persist from the first conflict")
    XCTAssertEqual(node.lastIndex, 2, "the conflicting suffix is gone")
    XCTAssertEqual(effects.committedEntries.map(\.index), [1, 2])
    XCTAssertEqual(
      effects.messages.first?.kind, .appendResponse(success: true, index: 2, hintIndex: 0))
  }

  func testFollowerRejectsAppendWithMismatchedPreviousEntryAndHintsBack_Section5_3() {
    var node = RaftNode(
      options: RaftOptions(id: 2),
      state: PersistentState(
        hardState: HardState(term: 3),
        snapshot: Snapshot(
          metadata: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: [1, 2, 3])),
          data: []),
        entries: (1...6).map { LogEntry(index: $0, term: $0 < 3 ? 1 : 2, payload: .noop) }))
    let effects = node.step(
      .message(
        Message(
          from: 1, to: 2, term: 3,
          kind: .appendRequest(previousIndex: 6, previousTerm: 1, entries: [], leaderCommit: 0))))
    // Entries 3...6 have term 2 > 1, so none of them can match: the hint skips them all.
    XCTAssertEqual(
      effects.messages.first?.kind, .appendResponse(success: false, index: 6, hintIndex: 2))
  }

  func testLaggingFollowerCatchesUpThroughProbing() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(3)
    for byte in UInt8(1)...20 { cluster.propose(1, byte) }
    cluster.heal()
    cluster.tick(1, times: 2)
    cluster.deliverAll()
    XCTAssertEqual(cluster.appliedCommands(3).count, 20)
    XCTAssertEqual(cluster[1].replicationProgress(of: 3)?.match, cluster[1].lastIndex)
  }

  func testLeaderStatusReportsFollowerLag() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(3)
    cluster.propose(1, 1)
    cluster.propose(1, 2)
    let status = cluster[1].status
    XCTAssertEqual(status.role, .leader)
    XCTAssertEqual(status.peers.map(\.id), [2, 3])
    XCTAssertEqual(status.peers.map(\.lag), [0, 2])
    XCTAssertEqual(cluster[2].status.peers, [], "only a leader tracks followers")
  }

  func testAppendBatchesRespectMaxEntriesAndMaxBytes() {
    var cluster = TestCluster(voters: [1, 2]) {
      $0.maxEntriesPerAppend = 3
      $0.maxAppendBytes = 100
      $0.isCheckQuorumEnabled = false
    }
    cluster.elect(1)
    cluster.isolate(2)
    for byte in UInt8(1)...10 { cluster.step(1, .propose(id: 0, command: [UInt8](repeating: byte, count: 20))) }
    cluster.heal()
    cluster.sentMessages = []
    cluster.tick(1, times: 2)
    cluster.deliverAll()
    var appendSizes: [Int] = []
    for message in cluster.sentMessages {
      guard case .appendRequest(_, _, let entries, _) = message.kind, !entries.isEmpty else { continue }
      appendSizes.append(entries.count)
      XCTAssertLessThanOrEqual(entries.count, 3)
      XCTAssertTrue(entries.count == 1 || entries.reduce(0) { $0 + $1.sizeBytes } <= 100)
    }
    XCTAssertEqual(appendSizes.max(), 2, "two 36-byte entries fit in 100 bytes, three do not")
    XCTAssertEqual(cluster.appliedCommands(2).count, 10)
  }

  func testPipelineKeepsAtMostMaxInflightAppendsUnacknowledged() {
    var node = RaftNode(
      options: RaftOptions(
        id: 1, isPreVoteEnabled: false, maxEntriesPerAppend: 1, maxInflightAppends: 2),
      state: .bootstrap(voters: [1, 2]))
    _ = node.step(.campaign)
    _ = node.step(.message(Message(from: 2, to: 1, term: 1, kind: .voteResponse(granted: true))))
    // Acknowledge the no-op so follower 2 moves from probe to replicate.
    _ = node.step(
      .message(
        Message(from: 2, to: 1, term: 1, kind: .appendResponse(success: true, index: 1, hintIndex: 0))))
    var appends = 0
    for byte in UInt8(1)...5 {
      let effects = node.step(.propose(id: UInt64(byte), command: [byte]))
      appends += effects.messages.filter {
        if case .appendRequest(_, _, let entries, _) = $0.kind { return !entries.isEmpty }
        return false
      }.count
    }
    XCTAssertEqual(appends, 2, "window of two in-flight appends")
    let more = node.step(
      .message(
        Message(from: 2, to: 1, term: 1, kind: .appendResponse(success: true, index: 3, hintIndex: 0))))
    let resent = more.messages.compactMap { message -> [LogIndex]? in
      if case .appendRequest(_, _, let entries, _) = message.kind { return entries.map(\.index) }
      return nil
    }
    XCTAssertEqual(resent.filter { !$0.isEmpty }, [[4], [5]], "the acknowledgement reopens the window")
  }
}
