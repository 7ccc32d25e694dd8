import CairnRaft
import XCTest

/// Log compaction and InstallSnapshot: Raft §7.
final class SnapshotTests: XCTestCase {
  func testCompactionTruncatesLogAndEmitsSnapshotToPersist_Section7() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    for byte in UInt8(1)...5 { cluster.propose(1, byte) }
    let applied = cluster[1].appliedIndex
    let effects = cluster.step(1, .compact(appliedIndex: applied, data: [0xAA]))
    XCTAssertEqual(effects.snapshotToPersist?.metadata.index, applied)
    XCTAssertEqual(effects.snapshotToPersist?.metadata.term, 1)
    XCTAssertEqual(effects.snapshotToPersist?.metadata.membership, Membership(voters: [1, 2, 3]))
    XCTAssertFalse(effects.installsSnapshot, "the application made it: nothing to restore")
    XCTAssertNil(cluster[1].entry(at: applied), "compacted entries leave memory")
    XCTAssertEqual(cluster[1].snapshotMetadata.index, applied)
  }

  func testLaggingFollowerReceivesInstallSnapshot_Section7() {
    var cluster = TestCluster(voters: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(3)
    for byte in UInt8(1)...5 { cluster.propose(1, byte) }
    cluster.step(1, .compact(appliedIndex: cluster[1].appliedIndex, data: [0xAA, 0xBB]))
    cluster.propose(1, 6)
    cluster.heal()
    cluster.tick(1, times: 2)
    cluster.deliverAll()
    let installed = cluster.sentMessages.contains { message in
      if case .installSnapshot(let snapshot) = message.kind {
        return message.to == 3 && snapshot.data == [0xAA, 0xBB]
      }
      return false
    }
    XCTAssertTrue(installed)
    XCTAssertEqual(cluster[3].snapshotMetadata.index, 6)
    XCTAssertEqual(cluster.appliedCommands(3), [[6]], "entries after the snapshot are applied")
    XCTAssertEqual(cluster[3].commitIndex, cluster[1].commitIndex)
    XCTAssertEqual(cluster.disks[NodeID(3)]?.snapshot.data, [0xAA, 0xBB])
  }

  func testFollowerInstallingSnapshotDiscardsItsLogAndRestores_Section7() {
    var node = RaftNode(
      options: RaftOptions(id: 2),
      state: PersistentState(
        hardState: HardState(term: 1, votedFor: .none, commitIndex: 1),
        snapshot: Snapshot(
          metadata: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: [1, 2, 3])),
          data: []),
        entries: [
          LogEntry(index: 1, term: 1, payload: .noop),
          LogEntry(index: 2, term: 1, payload: .command([9])),
        ]))
    let snapshot = Snapshot(
      metadata: SnapshotMetadata(index: 10, term: 2, membership: Membership(voters: [1, 2, 3, 4])),
      data: [1, 2, 3])
    let effects = node.step(
      .message(Message(from: 1, to: 2, term: 2, kind: .installSnapshot(snapshot))))
    XCTAssertEqual(effects.snapshotToPersist, snapshot)
    XCTAssertTrue(effects.installsSnapshot)
    XCTAssertEqual(node.lastIndex, 10)
    XCTAssertEqual(node.commitIndex, 10)
    XCTAssertEqual(node.membership, Membership(voters: [1, 2, 3, 4]))
    XCTAssertEqual(
      effects.messages.first?.kind, .appendResponse(success: true, index: 10, hintIndex: 0))
    XCTAssertTrue(
      effects.committedEntries.map(\.index).allSatisfy { $0 <= 1 },
      "only entries before the snapshot (unapplied at restart) may precede it")
  }

  func testSnapshotAlreadyCoveredByLogOnlyAdvancesCommit_Section7() {
    var node = RaftNode(
      options: RaftOptions(id: 2),
      state: PersistentState(
        hardState: HardState(term: 1),
        snapshot: Snapshot(
          metadata: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: [1, 2])),
          data: []),
        entries: (1...4).map { LogEntry(index: $0, term: 1, payload: .noop) }))
    let snapshot = Snapshot(
      metadata: SnapshotMetadata(index: 3, term: 1, membership: Membership(voters: [1, 2])),
      data: [7])
    let effects = node.step(
      .message(Message(from: 1, to: 2, term: 1, kind: .installSnapshot(snapshot))))
    XCTAssertNil(effects.snapshotToPersist, "the log already holds (3, 1): keep it")
    XCTAssertEqual(node.lastIndex, 4)
    XCTAssertEqual(node.commitIndex, 3)
    XCTAssertEqual(effects.committedEntries.map(\.index), [1, 2, 3])
  }

  func testRestartAfterCompactionRebuildsFromSnapshotAndEntries() {
    var cluster = TestCluster(voters: [1])
    cluster.elect(1)
    for byte in UInt8(1)...3 { cluster.propose(1, byte) }
    cluster.step(1, .compact(appliedIndex: 2, data: [0x11]))
    cluster.propose(1, 4)
    cluster.restart(1)
    XCTAssertEqual(cluster[1].snapshotMetadata.index, 2)
    XCTAssertEqual(cluster[1].lastIndex, 5)
    cluster.tick(1)
    XCTAssertEqual(
      cluster.appliedCommands(1), [[2], [3], [4]],
      "entries after the snapshot are re-applied on restart")
  }
}
