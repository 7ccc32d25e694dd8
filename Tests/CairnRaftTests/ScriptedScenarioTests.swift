import CairnRaft
import XCTest

/// Scripted scenarios in the style of etcd-raft's `testdata`: each command is followed by
/// the output it must produce. On a mismatch the test prints the whole script with the actual
/// outputs, to review and paste back (`CAIRN_RAFT_SCRIPT_PRINT=1` prints it always).
final class ScriptedScenarioTests: XCTestCase {
  private func check(
    _ script: String, voters: [UInt64] = [1, 2, 3], spare: [UInt64] = [],
    configure: (inout RaftOptions) -> Void = { _ in }, file: StaticString = #filePath,
    line: UInt = #line
  ) {
    var runner = ScriptRunner(voters: voters, spare: spare, configure: configure)
    let actual = runner.run(script)
    if ProcessInfo.processInfo.environment["CAIRN_RAFT_SCRIPT_PRINT"] != nil {
      print("=== actual script output ===\n\(actual)")
    }
    if actual != script {
      XCTFail("script output differs; actual:\n\(actual)", file: file, line: line)
    }
  }

  func testElectionAndCatchUpAfterMinorityPartition_Section5_3() {
    check(
      """
      campaign 1
      ----
      send n1->n2 t1 PreVote last=0@0
      send n1->n3 t1 PreVote last=0@0

      stabilize
      ----
      n1: leader term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n2: follower term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n3: follower term=1 last=1 commit=0 applied=0 snapshot=0 voters=1,2,3

      propose 1 a
      ----
      appended at 2@1
      send n1->n2 t1 Append prev=1@1 entries=1 commit=1
      send n1->n3 t1 Append prev=1@1 entries=1 commit=1

      stabilize
      ----
      n1: leader term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3
      n2: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3
      n3: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3

      isolate 3
      ----

      propose 1 b
      ----
      appended at 3@1
      send n1->n2 t1 Append prev=2@1 entries=1 commit=2
      send n1->n3 t1 Append prev=2@1 entries=1 commit=2

      propose 1 c
      ----
      appended at 4@1
      send n1->n2 t1 Append prev=3@1 entries=1 commit=2
      send n1->n3 t1 Append prev=3@1 entries=1 commit=2

      stabilize
      ----
      n1: leader term=1 last=4 commit=4 applied=4 snapshot=0 voters=1,2,3
      n2: follower term=1 last=4 commit=4 applied=4 snapshot=0 voters=1,2,3
      n3: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3

      heal
      ----

      tick 1 2
      ----
      send n1->n2 t1 Heartbeat commit=4 round=0
      send n1->n3 t1 Heartbeat commit=2 round=0

      stabilize
      ----
      n1: leader term=1 last=4 commit=4 applied=4 snapshot=0 voters=1,2,3
      n2: follower term=1 last=4 commit=4 applied=4 snapshot=0 voters=1,2,3
      n3: follower term=1 last=4 commit=4 applied=4 snapshot=0 voters=1,2,3

      log 3
      ----
      1@1 noop
      2@1 "a"
      3@1 "b"
      4@1 "c"

      """, voters: [1, 2, 3], spare: [])
  }

  func testPreVotePartitionedNodeRejoinsWithoutDisruption_Section9_6() {
    check(
      """
      campaign 1
      ----
      send n1->n2 t1 PreVote last=0@0
      send n1->n3 t1 PreVote last=0@0

      stabilize
      ----
      n1: leader term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n2: follower term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n3: follower term=1 last=1 commit=0 applied=0 snapshot=0 voters=1,2,3

      isolate 3
      ----

      tick 3 25
      ----
      send n3->n1 t2 PreVote last=1@1
      send n3->n2 t2 PreVote last=1@1
      send n3->n1 t2 PreVote last=1@1
      send n3->n2 t2 PreVote last=1@1
      send n3->n1 t2 PreVote last=1@1
      send n3->n2 t2 PreVote last=1@1
      send n3->n1 t2 PreVote last=1@1
      send n3->n2 t2 PreVote last=1@1

      status
      ----
      n1: leader term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n2: follower term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n3: preCandidate term=1 last=1 commit=0 applied=0 snapshot=0 voters=1,2,3

      heal
      ----

      tick 1 2
      ----
      send n1->n2 t1 Heartbeat commit=1 round=0
      send n1->n3 t1 Heartbeat commit=1 round=0

      stabilize
      ----
      n1: leader term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n2: follower term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n3: follower term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3

      """, voters: [1, 2, 3], spare: [])
  }

  func testTransferToLaggingFollower_Section3_10() {
    check(
      """
      campaign 1
      ----
      send n1->n2 t1 PreVote last=0@0
      send n1->n3 t1 PreVote last=0@0

      stabilize
      ----
      n1: leader term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n2: follower term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n3: follower term=1 last=1 commit=0 applied=0 snapshot=0 voters=1,2,3

      isolate 3
      ----

      propose 1 x
      ----
      appended at 2@1
      send n1->n2 t1 Append prev=1@1 entries=1 commit=1
      send n1->n3 t1 Append prev=1@1 entries=1 commit=1

      stabilize
      ----
      n1: leader term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3
      n2: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3
      n3: follower term=1 last=1 commit=0 applied=0 snapshot=0 voters=1,2,3

      heal
      ----

      transfer 1 3
      ----
      send n1->n3 t1 Append prev=2@1 entries=0 commit=2

      propose 1 refused
      ----
      rejected: transferInProgress

      stabilize
      ----
      n1: follower term=2 last=3 commit=3 applied=3 snapshot=0 voters=1,2,3
      n2: follower term=2 last=3 commit=2 applied=2 snapshot=0 voters=1,2,3
      n3: leader term=2 last=3 commit=3 applied=3 snapshot=0 voters=1,2,3

      log 3
      ----
      1@1 noop
      2@1 "x"
      3@2 noop

      """, voters: [1, 2, 3], spare: [])
  }

  func testSnapshotSentToFollowerBehindCompaction_Section7() {
    check(
      """
      campaign 1
      ----
      send n1->n2 t1 PreVote last=0@0
      send n1->n3 t1 PreVote last=0@0

      stabilize
      ----
      n1: leader term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n2: follower term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n3: follower term=1 last=1 commit=0 applied=0 snapshot=0 voters=1,2,3

      isolate 3
      ----

      propose 1 a
      ----
      appended at 2@1
      send n1->n2 t1 Append prev=1@1 entries=1 commit=1
      send n1->n3 t1 Append prev=1@1 entries=1 commit=1

      propose 1 b
      ----
      appended at 3@1
      send n1->n2 t1 Append prev=2@1 entries=1 commit=1
      send n1->n3 t1 Append prev=2@1 entries=1 commit=1

      stabilize
      ----
      n1: leader term=1 last=3 commit=3 applied=3 snapshot=0 voters=1,2,3
      n2: follower term=1 last=3 commit=3 applied=3 snapshot=0 voters=1,2,3
      n3: follower term=1 last=1 commit=0 applied=0 snapshot=0 voters=1,2,3

      compact 1
      ----
      persist snapshot 3@1

      propose 1 c
      ----
      appended at 4@1
      send n1->n2 t1 Append prev=3@1 entries=1 commit=3
      send n1->n3 t1 Append prev=3@1 entries=1 commit=3

      stabilize
      ----
      n1: leader term=1 last=4 commit=4 applied=4 snapshot=3 voters=1,2,3
      n2: follower term=1 last=4 commit=4 applied=4 snapshot=0 voters=1,2,3
      n3: follower term=1 last=1 commit=0 applied=0 snapshot=0 voters=1,2,3

      heal
      ----

      tick 1 2
      ----
      send n1->n2 t1 Heartbeat commit=4 round=0
      send n1->n3 t1 Heartbeat commit=1 round=0

      stabilize
      ----
      n1: leader term=1 last=4 commit=4 applied=4 snapshot=3 voters=1,2,3
      n2: follower term=1 last=4 commit=4 applied=4 snapshot=0 voters=1,2,3
      n3: follower term=1 last=4 commit=4 applied=4 snapshot=3 voters=1,2,3

      log 3
      ----
      4@1 "c"

      """, voters: [1, 2, 3], spare: [])
  }

  func testAddVoterThenRemoveLeader_Section4_1() {
    check(
      """
      campaign 1
      ----
      send n1->n2 t1 PreVote last=0@0
      send n1->n3 t1 PreVote last=0@0

      stabilize
      ----
      n1: leader term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n2: follower term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n3: follower term=1 last=1 commit=0 applied=0 snapshot=0 voters=1,2,3
      n4: follower term=0 last=0 commit=0 applied=0 snapshot=0 voters=

      add 1 4
      ----
      appended at 2@1
      send n1->n2 t1 Append prev=1@1 entries=1 commit=1
      send n1->n3 t1 Append prev=1@1 entries=1 commit=1
      send n1->n4 t1 Append prev=1@1 entries=1 commit=1

      add 1 4
      ----
      rejected: membershipChangePending

      stabilize
      ----
      n1: leader term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3,4
      n2: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3,4
      n3: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3,4
      n4: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3,4

      tick 1 2
      ----
      send n1->n2 t1 Heartbeat commit=2 round=0
      send n1->n3 t1 Heartbeat commit=2 round=0
      send n1->n4 t1 Heartbeat commit=2 round=0

      stabilize
      ----
      n1: leader term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3,4
      n2: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3,4
      n3: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3,4
      n4: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3,4

      remove 1 1
      ----
      appended at 3@1
      send n1->n2 t1 Append prev=2@1 entries=1 commit=2
      send n1->n3 t1 Append prev=2@1 entries=1 commit=2
      send n1->n4 t1 Append prev=2@1 entries=1 commit=2

      stabilize
      ----
      n1: follower term=1 last=3 commit=3 applied=3 snapshot=0 voters=2,3,4
      n2: follower term=1 last=3 commit=3 applied=3 snapshot=0 voters=2,3,4
      n3: follower term=1 last=3 commit=3 applied=3 snapshot=0 voters=2,3,4
      n4: follower term=1 last=3 commit=3 applied=3 snapshot=0 voters=2,3,4

      tick 2 30
      ----
      send n2->n3 t2 PreVote last=3@1
      send n2->n4 t2 PreVote last=3@1
      send n2->n3 t2 PreVote last=3@1
      send n2->n4 t2 PreVote last=3@1
      send n2->n3 t2 PreVote last=3@1
      send n2->n4 t2 PreVote last=3@1
      send n2->n3 t2 PreVote last=3@1
      send n2->n4 t2 PreVote last=3@1
      send n2->n3 t2 PreVote last=3@1
      send n2->n4 t2 PreVote last=3@1
      send n2->n3 t2 PreVote last=3@1
      send n2->n4 t2 PreVote last=3@1
      send n2->n3 t2 PreVote last=3@1
      send n2->n4 t2 PreVote last=3@1
      send n2->n3 t2 PreVote last=3@1
      send n2->n4 t2 PreVote last=3@1
      send n2->n3 t2 PreVote last=3@1
      send n2->n4 t2 PreVote last=3@1

      tick 3 30
      ----
      send n3->n2 t2 PreVote last=3@1
      send n3->n4 t2 PreVote last=3@1
      send n3->n2 t2 PreVote last=3@1
      send n3->n4 t2 PreVote last=3@1
      send n3->n2 t2 PreVote last=3@1
      send n3->n4 t2 PreVote last=3@1
      send n3->n2 t2 PreVote last=3@1
      send n3->n4 t2 PreVote last=3@1
      send n3->n2 t2 PreVote last=3@1
      send n3->n4 t2 PreVote last=3@1
      send n3->n2 t2 PreVote last=3@1
      send n3->n4 t2 PreVote last=3@1

      tick 4 30
      ----
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1
      send n4->n2 t2 PreVote last=3@1
      send n4->n3 t2 PreVote last=3@1

      stabilize
      ----
      n1: follower term=1 last=3 commit=3 applied=3 snapshot=0 voters=2,3,4
      n2: follower term=2 last=3 commit=3 applied=3 snapshot=0 voters=2,3,4
      n3: follower term=2 last=3 commit=3 applied=3 snapshot=0 voters=2,3,4
      n4: follower term=2 last=3 commit=3 applied=3 snapshot=0 voters=2,3,4

      tick 2 30
      ----
      send n2->n3 t3 PreVote last=3@1
      send n2->n4 t3 PreVote last=3@1
      send n2->n3 t3 PreVote last=3@1
      send n2->n4 t3 PreVote last=3@1
      send n2->n3 t3 PreVote last=3@1
      send n2->n4 t3 PreVote last=3@1
      send n2->n3 t3 PreVote last=3@1
      send n2->n4 t3 PreVote last=3@1
      send n2->n3 t3 PreVote last=3@1
      send n2->n4 t3 PreVote last=3@1
      send n2->n3 t3 PreVote last=3@1
      send n2->n4 t3 PreVote last=3@1
      send n2->n3 t3 PreVote last=3@1
      send n2->n4 t3 PreVote last=3@1
      send n2->n3 t3 PreVote last=3@1
      send n2->n4 t3 PreVote last=3@1

      stabilize
      ----
      n1: follower term=1 last=3 commit=3 applied=3 snapshot=0 voters=2,3,4
      n2: leader term=3 last=4 commit=4 applied=4 snapshot=0 voters=2,3,4
      n3: follower term=3 last=4 commit=4 applied=4 snapshot=0 voters=2,3,4
      n4: follower term=3 last=4 commit=3 applied=3 snapshot=0 voters=2,3,4

      """, voters: [1, 2, 3], spare: [4])
  }

  func testReadIndexConfirmedByHeartbeatQuorum_Section6_4() {
    check(
      """
      campaign 1
      ----
      send n1->n2 t1 PreVote last=0@0
      send n1->n3 t1 PreVote last=0@0

      read 1 7
      ----
      read 7 failed: notLeader(leader: n0)

      stabilize
      ----
      n1: leader term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n2: follower term=1 last=1 commit=1 applied=1 snapshot=0 voters=1,2,3
      n3: follower term=1 last=1 commit=0 applied=0 snapshot=0 voters=1,2,3

      propose 1 v
      ----
      appended at 2@1
      send n1->n2 t1 Append prev=1@1 entries=1 commit=1
      send n1->n3 t1 Append prev=1@1 entries=1 commit=1

      stabilize
      ----
      n1: leader term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3
      n2: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3
      n3: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3

      read 1 8
      ----
      send n1->n2 t1 Heartbeat commit=2 round=1
      send n1->n3 t1 Heartbeat commit=2 round=1

      stabilize
      ----
      n1: leader term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3
      n2: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3
      n3: follower term=1 last=2 commit=2 applied=2 snapshot=0 voters=1,2,3
      n1: read 8 ready at 2

      read 2 9
      ----
      read 9 failed: notLeader(leader: n1)

      isolate 1
      ----

      read 1 10
      ----
      send n1->n2 t1 Heartbeat commit=2 round=2
      send n1->n3 t1 Heartbeat commit=2 round=2

      tick 1 20
      ----
      send n1->n2 t1 Heartbeat commit=2 round=2
      send n1->n3 t1 Heartbeat commit=2 round=2
      send n1->n2 t1 Heartbeat commit=2 round=2
      send n1->n3 t1 Heartbeat commit=2 round=2
      send n1->n2 t1 Heartbeat commit=2 round=2
      send n1->n3 t1 Heartbeat commit=2 round=2
      send n1->n2 t1 Heartbeat commit=2 round=2
      send n1->n3 t1 Heartbeat commit=2 round=2
      send n1->n2 t1 Heartbeat commit=2 round=2
      send n1->n3 t1 Heartbeat commit=2 round=2
      send n1->n2 t1 Heartbeat commit=2 round=2
      send n1->n3 t1 Heartbeat commit=2 round=2
      send n1->n2 t1 Heartbeat commit=2 round=2
      send n1->n3 t1 Heartbeat commit=2 round=2
      send n1->n2 t1 Heartbeat commit=2 round=2
      send n1->n3 t1 Heartbeat commit=2 round=2
      send n1->n2 t1 Heartbeat commit=2 round=2
      send n1->n3 t1 Heartbeat commit=2 round=2
      read 10 failed: leadershipLost

      """, voters: [1, 2, 3], spare: [])
  }
}
