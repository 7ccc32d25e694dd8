import CairnRaft
import XCTest

/// Leader election: Raft §5.2 and §5.4.1, PreVote (§9.6), CheckQuorum and the leader lease.
final class ElectionTests: XCTestCase {
  func testFollowerCampaignsAfterRandomizedElectionTimeout_Section5_2() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.tick(1, times: 9)
    XCTAssertEqual(cluster[1].role, .follower, "no election before electionTicks")
    cluster.tick(1, times: 11)  // randomized timeout is below 2 × electionTicks
    XCTAssertEqual(cluster[1].role, .preCandidate)
    XCTAssertEqual(cluster[1].term, 0, "PreVote does not bump the term")
    cluster.deliverAll()
    XCTAssertEqual(cluster[1].role, .leader)
    XCTAssertEqual(cluster[1].term, 1)
  }

  func testElectionSafetyAtMostOneLeaderPerTerm_Section5_2() {
    var cluster = TestCluster(voters: [1, 2, 3]) { $0.isPreVoteEnabled = false }
    // Both campaign in the same term: each votes for itself, so the third decides.
    cluster.step(1, .campaign)
    cluster.step(2, .campaign)
    cluster.deliverAll()
    let leaders = [1, 2, 3].filter { cluster[UInt64($0)].isLeader }
    XCTAssertEqual(leaders.count, 1)
    XCTAssertEqual(cluster[1].term, cluster[2].term)
  }

  func testVoteIsGrantedAtMostOncePerTerm_Section5_2() {
    var node = RaftNode(
      options: RaftOptions(id: 1, isPreVoteEnabled: false, isCheckQuorumEnabled: false),
      state: .bootstrap(voters: [1, 2, 3]))
    let first = node.step(
      .message(
        Message(
          from: 2, to: 1, term: 1,
          kind: .voteRequest(lastIndex: 0, lastTerm: 0, isLeadershipTransfer: false))))
    XCTAssertEqual(first.messages.first?.kind, .voteResponse(granted: true))
    XCTAssertEqual(first.hardState?.votedFor, 2, "the vote must be persisted with the response")
    let second = node.step(
      .message(
        Message(
          from: 3, to: 1, term: 1,
          kind: .voteRequest(lastIndex: 5, lastTerm: 1, isLeadershipTransfer: false))))
    XCTAssertEqual(second.messages.first?.kind, .voteResponse(granted: false))
  }

  func testCandidateWithOutdatedLogLosesElection_Section5_4_1() {
    var cluster = TestCluster(voters: [1, 2, 3]) {
      $0.isPreVoteEnabled = false
      $0.isCheckQuorumEnabled = false
    }
    cluster.elect(1)
    cluster.isolate(3)
    cluster.propose(1, 7)
    cluster.heal()
    // Node 3 missed index 2; node 2 must refuse to make it leader.
    cluster.isolate(1)
    cluster.step(3, .campaign)
    cluster.deliverAll()
    XCTAssertNotEqual(cluster[3].role, .leader)
    XCTAssertEqual(cluster[3].lastIndex, 1)
    XCTAssertEqual(cluster[2].lastIndex, 2)
  }

  func testPreVoteKeepsPartitionedNodeFromInflatingTerm_Section9_6() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    let term = cluster[1].term
    cluster.isolate(3)
    cluster.tick(3, times: 100)
    XCTAssertEqual(cluster[3].term, term, "pre-elections fail without bumping the term")
    cluster.heal()
    cluster.tick(1, times: 2)  // heartbeat
    cluster.deliverAll()
    XCTAssertEqual(cluster[1].role, .leader, "the rejoining node did not disrupt the leader")
    XCTAssertEqual(cluster[1].term, term)
  }

  func testWithoutPreVoteRejoiningNodeForcesNewTerm() {
    var cluster = TestCluster(voters: [1, 2, 3]) {
      $0.isPreVoteEnabled = false
      $0.isCheckQuorumEnabled = false
    }
    cluster.elect(1)
    cluster.isolate(3)
    cluster.tick(3, times: 100)
    XCTAssertGreaterThan(cluster[3].term, cluster[1].term, "the contrast PreVote exists for")
  }

  func testCheckQuorumLeaderStepsDownWithoutQuorum_Section6_2() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(1)
    cluster.tick(1, times: 10)
    XCTAssertEqual(cluster[1].role, .leader, "first interval: peers were active")
    cluster.tick(1, times: 10)
    XCTAssertEqual(cluster[1].role, .follower, "no heartbeat quorum for a whole interval")
  }

  func testLeaderLeaseIgnoresDisruptiveVoteRequests_Section4_2_3() {
    var cluster = TestCluster(voters: [1, 2, 3]) { $0.isPreVoteEnabled = false }
    cluster.elect(1)
    let term = cluster[1].term
    // Node 3 campaigns at a higher term while 2 still hears from leader 1.
    cluster.step(3, .campaign)
    XCTAssertEqual(cluster[3].term, term + 1)
    cluster.deliverAll()
    XCTAssertEqual(cluster[2].term, term, "node 2 ignored the vote request inside its lease")
    XCTAssertNotEqual(cluster[3].role, .leader)
  }

  /// The leader dies while follower 3 is one tick short of its lease end (it heard from the
  /// leader later than follower 2, or its tick timer runs on another phase): 3 drops 2's
  /// pre-vote silently. The pre-candidate asks again every heartbeat interval, so the election
  /// finishes about a heartbeat interval after 3's lease ends, instead of waiting for another
  /// randomized election timeout (up to 2 × electionTicks) of either follower.
  func testPreVoteDroppedInsideAPeersLeaseIsRetried() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(1)  // the leader dies
    var ticks = 0
    while cluster[2].role != .preCandidate {
      cluster.tick(2)
      ticks += 1
      XCTAssertLessThan(ticks, 20, "node 2 campaigns within 2 × electionTicks")
    }
    cluster.tick(3, times: 9)  // node 3: electionTicks − 1 ticks since it last heard the leader
    cluster.deliverAll()
    XCTAssertEqual(cluster[2].role, .preCandidate, "node 3 is inside its lease and ignored the pre-vote")
    XCTAssertEqual(cluster[3].role, .follower)
    var after = 0
    while !cluster[2].isLeader && !cluster[3].isLeader && after < 40 {
      cluster.tick(2)
      cluster.tick(3)
      cluster.deliverAll()
      after += 1
    }
    XCTAssertTrue(cluster[2].isLeader || cluster[3].isLeader, "a leader within 40 ticks")
    XCTAssertLessThanOrEqual(after, 2, "elected \(after) ticks after the dropped pre-vote")
  }

  func testStaleLeaderStepsDownOnHigherTermResponse_Section5_1() {
    var cluster = TestCluster(voters: [1, 2, 3]) { $0.isCheckQuorumEnabled = false }
    cluster.elect(1)
    cluster.isolate(1)
    cluster.tick(2, times: 20)
    cluster.deliverAll()
    let newLeader: UInt64 = 2
    XCTAssertTrue(cluster[newLeader].isLeader)
    cluster.heal()
    cluster.tick(1, times: 2)  // old leader's heartbeat is answered with the newer term
    cluster.deliverAll()
    XCTAssertEqual(cluster[1].role, .follower)
    XCTAssertEqual(cluster[1].term, cluster[newLeader].term)
  }

  func testSingleVoterBecomesLeaderAndCommitsAlone() {
    var cluster = TestCluster(voters: [1])
    cluster.elect(1)
    XCTAssertTrue(cluster[1].isLeader)
    cluster.propose(1, 9)
    XCTAssertEqual(cluster.appliedCommands(1), [[9]])
  }
}
