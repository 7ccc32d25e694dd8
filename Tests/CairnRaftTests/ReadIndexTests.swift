import CairnRaft
import XCTest

/// Linearizable reads with ReadIndex: Raft §6.4.
final class ReadIndexTests: XCTestCase {
  func testReadIsReadyOnlyAfterHeartbeatQuorumConfirmsLeadership_Section6_4() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.propose(1, 1)
    let commit = cluster[1].commitIndex
    let asked = cluster.step(1, .readIndex(id: 7))
    XCTAssertTrue(asked.readsReady.isEmpty, "not before a quorum answers a fresh heartbeat")
    XCTAssertTrue(asked.messages.contains { if case .heartbeat = $0.kind { true } else { false } })
    cluster.deliverAll()
    XCTAssertEqual(cluster.readsReady[NodeID(1)], [ReadState(id: 7, index: commit)])
  }

  func testPartitionedLeaderNeverServesRead_Section6_4() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(1)
    cluster.step(1, .readIndex(id: 1))
    cluster.tick(1, times: 30)
    XCTAssertEqual(cluster.readsReady[NodeID(1)] ?? [], [])
    XCTAssertEqual(
      cluster.readsFailed[NodeID(1)], [ReadFailure(id: 1, reason: .leadershipLost)],
      "CheckQuorum deposes the leader and the read fails instead of returning stale data")
  }

  func testReadWaitsForLeaderToCommitInItsTerm_Section6_4() {
    var node = RaftNode(
      options: RaftOptions(id: 1, isPreVoteEnabled: false), state: .bootstrap(voters: [1, 2, 3]))
    _ = node.step(.campaign)
    _ = node.step(.message(Message(from: 2, to: 1, term: 1, kind: .voteResponse(granted: true))))
    let asked = node.step(.readIndex(id: 3))
    XCTAssertFalse(
      asked.messages.contains { if case .heartbeat = $0.kind { true } else { false } },
      "no read index before the no-op of the new term commits")
    let committed = node.step(
      .message(
        Message(from: 2, to: 1, term: 1, kind: .appendResponse(success: true, index: 1, hintIndex: 0))))
    let heartbeat = committed.messages.first { if case .heartbeat = $0.kind { true } else { false } }
    guard case .heartbeat(_, let round)? = heartbeat?.kind else {
      return XCTFail("the read round starts once the no-op commits")
    }
    let ready = node.step(
      .message(Message(from: 3, to: 1, term: 1, kind: .heartbeatResponse(readRound: round))))
    XCTAssertEqual(ready.readsReady, [ReadState(id: 3, index: 1)])
  }

  func testStaleHeartbeatAcknowledgementDoesNotConfirmNewerRead_Section6_4() {
    var node = RaftNode(
      options: RaftOptions(id: 1, isPreVoteEnabled: false), state: .bootstrap(voters: [1, 2, 3]))
    _ = node.step(.campaign)
    _ = node.step(.message(Message(from: 2, to: 1, term: 1, kind: .voteResponse(granted: true))))
    _ = node.step(
      .message(
        Message(from: 2, to: 1, term: 1, kind: .appendResponse(success: true, index: 1, hintIndex: 0))))
    let first = node.step(.readIndex(id: 1))
    guard case .heartbeat(_, let round)? = first.messages.first?.kind else {
      return XCTFail("expected a heartbeat")
    }
    let acknowledgedOld = node.step(
      .message(Message(from: 2, to: 1, term: 1, kind: .heartbeatResponse(readRound: round - 1))))
    XCTAssertTrue(acknowledgedOld.readsReady.isEmpty)
    let acknowledged = node.step(
      .message(Message(from: 2, to: 1, term: 1, kind: .heartbeatResponse(readRound: round))))
    XCTAssertEqual(acknowledged.readsReady, [ReadState(id: 1, index: 1)])
  }

  func testReadOnFollowerIsRefusedWithLeaderHint() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    let effects = cluster.step(2, .readIndex(id: 5))
    XCTAssertEqual(effects.readsFailed, [ReadFailure(id: 5, reason: .notLeader(leader: 1))])
  }

  func testReadsBeyondBoundAreRefusedAsOverloaded() {
    var cluster = TestCluster(voters: [1, 2, 3]) { $0.maxPendingReads = 2 }
    cluster.elect(1)
    cluster.isolate(1)
    cluster.step(1, .readIndex(id: 1))
    cluster.step(1, .readIndex(id: 2))
    let third = cluster.step(1, .readIndex(id: 3))
    XCTAssertEqual(third.readsFailed, [ReadFailure(id: 3, reason: .overloaded)])
  }
}
