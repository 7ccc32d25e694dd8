import CairnRaft
import XCTest

/// Leadership transfer with TimeoutNow: Raft §3.10.
final class TransferTests: XCTestCase {
  func testTransferToUpToDateFollowerElectsIt_Section3_10() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.propose(1, 1)
    let effects = cluster.step(1, .transferLeadership(to: 3))
    XCTAssertTrue(effects.messages.contains { $0.kind == .timeoutNow && $0.to == 3 })
    cluster.deliverAll()
    XCTAssertTrue(cluster[3].isLeader, "TimeoutNow skips PreVote and bypasses the lease")
    XCTAssertEqual(cluster[1].role, .follower)
  }

  func testTransferToLaggingFollowerCatchesItUpFirst_Section3_10() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(3)
    for byte in UInt8(1)...3 { cluster.propose(1, byte) }
    cluster.heal()
    let effects = cluster.step(1, .transferLeadership(to: 3))
    XCTAssertFalse(effects.messages.contains { $0.kind == .timeoutNow }, "3 is behind")
    cluster.tick(1, times: 2)
    cluster.deliverAll()
    XCTAssertTrue(cluster[3].isLeader)
    XCTAssertEqual(cluster[3].lastIndex, 5, "the old log is intact (4 entries + the new no-op)")
  }

  func testProposalsAreRefusedWhileTransferring() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(3)
    cluster.step(1, .transferLeadership(to: 3))
    let effects = cluster.step(1, .propose(id: 1, command: [1]))
    XCTAssertEqual(effects.proposals, [.rejected(id: 1, reason: .transferInProgress)])
  }

  func testTransferIsAbandonedAfterElectionTimeout() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(3)
    cluster.step(1, .transferLeadership(to: 3))
    cluster.cutLinks = cluster.cutLinks.filter { !$0.contains(2) }
    for _ in 0..<10 {
      cluster.tick(1)
      cluster.deliverAll()
    }
    let effects = cluster.step(1, .propose(id: 2, command: [2]))
    XCTAssertEqual(effects.proposals, [.appended(id: 2, index: 2, term: 1)])
  }
}
