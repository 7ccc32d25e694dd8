import CairnRaft
import XCTest

/// Single-server membership changes: Raft §4.1–§4.2.
final class MembershipTests: XCTestCase {
  func testAddedVoterCatchesUpAndCountsInQuorum_Section4_1() {
    var cluster = TestCluster(voters: [1, 2, 3], spare: [4])
    cluster.elect(1)
    cluster.propose(1, 1)
    let effects = cluster.step(1, .changeMembership(id: 9, .addVoter(4)))
    XCTAssertEqual(effects.proposals, [.appended(id: 9, index: 3, term: 1)])
    XCTAssertEqual(
      cluster[1].membership, Membership(voters: [1, 2, 3, 4]),
      "the configuration takes effect when appended, before it commits")
    cluster.deliverAll()
    cluster.tick(1, times: 2)
    cluster.deliverAll()
    // Regression (simulation seed 24): a node that joined empty must not derive {4} from
    // the delta "add 4"; membership entries carry the full result.
    XCTAssertEqual(cluster[4].membership, Membership(voters: [1, 2, 3, 4]))
    XCTAssertEqual(cluster.appliedCommands(4), [[1]], "the joining node replays the log")
    // With four voters, the quorum is three: the leader plus node 4 are not enough.
    cluster.isolate(2)
    cluster.isolate(3)
    let before = cluster[1].commitIndex
    cluster.propose(1, 2)
    XCTAssertEqual(cluster[1].commitIndex, before)
  }

  func testOnlyOneMembershipChangeMayBePending_Section4_1() {
    var cluster = TestCluster(voters: [1, 2, 3], spare: [4, 5])
    cluster.elect(1)
    cluster.isolate(2)
    cluster.isolate(3)
    cluster.step(1, .changeMembership(id: 1, .addVoter(4)))
    let second = cluster.step(1, .changeMembership(id: 2, .addVoter(5)))
    XCTAssertEqual(second.proposals, [.rejected(id: 2, reason: .membershipChangePending)])
    cluster.heal()
    cluster.tick(1, times: 2)
    cluster.deliverAll()
    let third = cluster.step(1, .changeMembership(id: 3, .addVoter(5)))
    XCTAssertEqual(third.proposals.count, 1)
    if case .appended = third.proposals[0] {} else { XCTFail("accepted once the first committed") }
  }

  func testInvalidMembershipChangesAreRefused() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    let duplicate = cluster.step(1, .changeMembership(id: 1, .addVoter(2)))
    XCTAssertEqual(duplicate.proposals, [.rejected(id: 1, reason: .invalidMembershipChange)])
    let unknown = cluster.step(1, .changeMembership(id: 2, .removeVoter(7)))
    XCTAssertEqual(unknown.proposals, [.rejected(id: 2, reason: .invalidMembershipChange)])
  }

  func testNewLeaderMustCommitInItsTermBeforeChangingMembership_Section4_1() {
    var node = RaftNode(
      options: RaftOptions(id: 1, isPreVoteEnabled: false), state: .bootstrap(voters: [1, 2, 3]))
    _ = node.step(.campaign)
    _ = node.step(.message(Message(from: 2, to: 1, term: 1, kind: .voteResponse(granted: true))))
    XCTAssertTrue(node.isLeader)
    let early = node.step(.changeMembership(id: 1, .addVoter(4)))
    XCTAssertEqual(
      early.proposals, [.rejected(id: 1, reason: .membershipChangePending)],
      "Ongaro's single-server change fix: commit an entry of the new term first")
    _ = node.step(
      .message(
        Message(from: 2, to: 1, term: 1, kind: .appendResponse(success: true, index: 1, hintIndex: 0))))
    let later = node.step(.changeMembership(id: 2, .addVoter(4)))
    XCTAssertEqual(later.proposals, [.appended(id: 2, index: 2, term: 1)])
  }

  func testRemovedLeaderStepsDownOnceRemovalCommits_Section4_2_2() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.step(1, .changeMembership(id: 1, .removeVoter(1)))
    XCTAssertTrue(cluster[1].isLeader, "still leads while its removal is uncommitted")
    XCTAssertEqual(cluster[1].membership, Membership(voters: [2, 3]))
    cluster.deliverAll()
    XCTAssertEqual(cluster[1].role, .follower)
    cluster.tick(1, times: 100)
    XCTAssertEqual(cluster[1].role, .follower, "a non-voter never campaigns")
    XCTAssertNotNil(cluster.runUntilLeader(among: [2, 3]))
  }

  func testTruncatedMembershipEntryIsUndone_Section4_1() {
    var node = RaftNode(
      options: RaftOptions(id: 2),
      state: PersistentState(
        hardState: HardState(term: 1),
        snapshot: Snapshot(
          metadata: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: [1, 2, 3])),
          data: []),
        entries: [
          LogEntry(index: 1, term: 1, payload: .noop),
          LogEntry(
            index: 2, term: 1,
            payload: .membershipChange(.addVoter(4), resulting: Membership(voters: [1, 2, 3, 4]))),
        ]))
    XCTAssertEqual(node.membership, Membership(voters: [1, 2, 3, 4]))
    _ = node.step(
      .message(
        Message(
          from: 3, to: 2, term: 2,
          kind: .appendRequest(
            previousIndex: 1, previousTerm: 1,
            entries: [LogEntry(index: 2, term: 2, payload: .noop)], leaderCommit: 0))))
    XCTAssertEqual(node.membership, Membership(voters: [1, 2, 3]))
  }
}
