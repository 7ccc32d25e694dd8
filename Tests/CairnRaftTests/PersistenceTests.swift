import CairnRaft
import Foundation
import XCTest

/// The effects contract and restart from persisted state (Raft Figure 2, "Persistent state").
final class PersistenceTests: XCTestCase {
  func testVoteIsInHardStateOfTheSameBatchAsTheVoteResponse_Figure2() {
    var node = RaftNode(
      options: RaftOptions(id: 2, isPreVoteEnabled: false), state: .bootstrap(voters: [1, 2, 3]))
    let effects = node.step(
      .message(
        Message(
          from: 1, to: 2, term: 1,
          kind: .voteRequest(lastIndex: 0, lastTerm: 0, isLeadershipTransfer: false))))
    XCTAssertEqual(effects.hardState, HardState(term: 1, votedFor: 1, commitIndex: 0))
    XCTAssertTrue(effects.needsPersistence, "the response may only leave after the fsync")
  }

  func testRestartedNodeRemembersItsVoteAndRefusesAnotherCandidate_Figure2() {
    var cluster = TestCluster(voters: [1, 2, 3]) { $0.isPreVoteEnabled = false }
    cluster.step(2, .message(
      Message(
        from: 1, to: 2, term: 1,
        kind: .voteRequest(lastIndex: 0, lastTerm: 0, isLeadershipTransfer: false))))
    cluster.restart(2)
    XCTAssertEqual(cluster[2].votedFor, 1)
    let effects = cluster.step(2, .message(
      Message(
        from: 3, to: 2, term: 1,
        kind: .voteRequest(lastIndex: 0, lastTerm: 0, isLeadershipTransfer: false))))
    XCTAssertEqual(effects.messages.first?.kind, .voteResponse(granted: false))
  }

  func testRestartReappliesCommittedEntriesAfterSnapshot() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    for byte in UInt8(1)...4 { cluster.propose(1, byte) }
    cluster.tick(1, times: 2)
    cluster.deliverAll()
    cluster.restart(2)
    XCTAssertEqual(cluster[2].lastIndex, 5)
    XCTAssertEqual(cluster[2].role, .follower)
    cluster.tick(2)
    XCTAssertEqual(cluster.appliedCommands(2), [[1], [2], [3], [4]])
  }

  func testRestartWithPersistedAppliedIndexDoesNotReapply() {
    var cluster = TestCluster(voters: [1])
    cluster.elect(1)
    cluster.propose(1, 1)
    cluster.propose(1, 2)
    guard var disk = cluster.disks[NodeID(1)] else { return XCTFail("no disk") }
    disk.appliedIndex = 2  // the state machine durably applied through index 2
    var node = RaftNode(options: cluster[1].options, state: disk)
    XCTAssertEqual(node.appliedIndex, 2)
    let effects = node.step(.tick)
    XCTAssertEqual(effects.committedEntries.map(\.index), [3], "only what was not applied")
  }

  func testNothingIsPersistedOrSentForAnIgnoredMessage() {
    var node = RaftNode(options: RaftOptions(id: 1), state: .bootstrap(voters: [1, 2, 3]))
    let effects = node.step(
      .message(Message(from: 2, to: 9, term: 5, kind: .heartbeat(commitIndex: 0, readRound: 0))))
    XCTAssertTrue(effects.isEmpty, "misaddressed messages are dropped")
    XCTAssertEqual(node.term, 0)
  }

  func testMessagesAndStateRoundTripThroughCodable() throws {
    let snapshot = Snapshot(
      metadata: SnapshotMetadata(index: 4, term: 2, membership: Membership(voters: [1, 2, 3])),
      data: [1, 2, 3])
    let messages = [
      Message(from: 1, to: 2, term: 3, kind: .preVoteRequest(lastIndex: 4, lastTerm: 2)),
      Message(from: 1, to: 2, term: 3, kind: .voteResponse(granted: true)),
      Message(
        from: 1, to: 2, term: 3,
        kind: .appendRequest(
          previousIndex: 4, previousTerm: 2,
          entries: [
            LogEntry(index: 5, term: 3, payload: .command([9, 9])),
            LogEntry(
              index: 6, term: 3,
              payload: .membershipChange(.addVoter(4), resulting: Membership(voters: [1, 2, 3, 4]))),
            LogEntry(index: 7, term: 3, payload: .noop),
          ],
          leaderCommit: 4)),
      Message(from: 2, to: 1, term: 3, kind: .appendResponse(success: false, index: 4, hintIndex: 1)),
      Message(from: 1, to: 2, term: 3, kind: .heartbeat(commitIndex: 4, readRound: 8)),
      Message(from: 1, to: 2, term: 3, kind: .installSnapshot(snapshot)),
      Message(from: 1, to: 2, term: 3, kind: .timeoutNow),
    ]
    let data = try JSONEncoder().encode(messages)
    XCTAssertEqual(try JSONDecoder().decode([Message].self, from: data), messages)
    let hardState = HardState(term: 3, votedFor: 1, commitIndex: 4)
    XCTAssertEqual(
      try JSONDecoder().decode(HardState.self, from: JSONEncoder().encode(hardState)), hardState)
  }
}
