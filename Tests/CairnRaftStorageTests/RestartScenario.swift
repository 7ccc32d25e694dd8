import CairnCore
import CairnRaft
import CairnRaftStorage
import XCTest

/// Three real nodes elect a leader and commit commands, every batch persisted through
/// `RaftLogStore`; one compacts; all crash; nodes rebuilt from `load()` alone must hold the same
/// durable state, refuse to vote twice, elect a new leader and keep committing.
enum RestartScenario {
  struct Durable: Equatable {
    var term: Term
    var votedFor: NodeID
    var lastIndex: LogIndex
    var snapshotIndex: LogIndex
    var entries: [LogEntry]
  }

  static func durable(_ node: RaftNode) -> Durable {
    let first = node.snapshotMetadata.index + 1
    let entries = first <= node.lastIndex ? (first...node.lastIndex).compactMap { node.entry(at: $0) } : []
    return Durable(
      term: node.term, votedFor: node.votedFor, lastIndex: node.lastIndex,
      snapshotIndex: node.snapshotMetadata.index, entries: entries)
  }

  static func run(_ cluster: DurableCluster) throws {
    try cluster.start()
    try cluster.step(1, .campaign)
    try cluster.deliverAll()
    XCTAssertEqual(cluster.leader(), 1, "node 1 wins the first election")
    let firstTerm = try cluster.node(1).term
    for (id, command) in ["a", "b", "c"].enumerated() {
      try cluster.step(1, .propose(id: UInt64(id), command: Array(command.utf8)))
    }
    try cluster.deliverAll()
    try cluster.tickAll(3)  // heartbeats carry the commit index to the followers
    for id in cluster.ids {
      XCTAssertEqual(cluster.appliedCommands(id), ["a", "b", "c"], "\(id) applied every command")
    }

    // Node 2 compacts through what it applied; the snapshot goes through persist as well.
    let applied2 = try cluster.node(2).appliedIndex
    try cluster.step(2, .compact(appliedIndex: applied2, data: Array("state@\(applied2)".utf8)))
    XCTAssertEqual(try cluster.log(2).storedSnapshot()?.metadata.index, applied2)

    var before: [NodeID: RestartScenario.Durable] = [:]
    for id in cluster.ids { before[id] = durable(try cluster.node(id)) }
    cluster.crashAll()
    try cluster.start()
    for id in cluster.ids {
      XCTAssertEqual(durable(try cluster.node(id)), before[id], "\(id) reloads exactly what it persisted")
    }
    XCTAssertEqual(try cluster.node(2).snapshotMetadata.index, applied2)
    XCTAssertEqual(try cluster.log(2).load()?.snapshot.data, Array("state@\(applied2)".utf8))

    // Node 3 voted for node 1 in the first term; after the restart it must not vote again there.
    XCTAssertEqual(try cluster.node(3).votedFor, 1)
    let lateCandidate = Message(
      from: 2, to: 3, term: firstTerm,
      kind: .voteRequest(lastIndex: 100, lastTerm: firstTerm, isLeadershipTransfer: false))
    let answer = try cluster.step(3, .message(lateCandidate))
    XCTAssertTrue(
      answer.messages.allSatisfy { $0.kind != .voteResponse(granted: true) }, "no second vote in term \(firstTerm)")

    // The restarted group elects node 2 in a later term and keeps committing.
    try cluster.step(2, .campaign)
    try cluster.deliverAll()
    XCTAssertEqual(cluster.leader(), 2, "node 2 wins after the restart")
    XCTAssertGreaterThan(try cluster.node(2).term, firstTerm)
    try cluster.step(2, .propose(id: 10, command: Array("d".utf8)))
    try cluster.deliverAll()
    try cluster.tickAll(3)
    let commit = try cluster.node(2).commitIndex
    XCTAssertEqual(commit, try cluster.node(2).lastIndex)
    for id in cluster.ids {
      let node = try cluster.node(id)
      XCTAssertEqual(node.commitIndex, commit, "\(id) learned the commit index")
      XCTAssertEqual(cluster.appliedCommands(id).last, "d", "\(id) applied the new command")
      let leaderSnapshot = try cluster.node(2).snapshotMetadata.index
      for index in (max(node.snapshotMetadata.index, leaderSnapshot) + 1)...commit {
        XCTAssertEqual(node.entry(at: index), try cluster.node(2).entry(at: index), "\(id) agrees at \(index)")
      }
    }
    // Nodes 1 and 3 re-applied from their (empty) snapshots: the same commands in the same order.
    XCTAssertEqual(cluster.appliedCommands(1), ["a", "b", "c", "d"])
    XCTAssertEqual(cluster.appliedCommands(3), ["a", "b", "c", "d"])
    XCTAssertEqual(cluster.appliedCommands(2), ["d"], "node 2 restored a, b, c from its snapshot")

    // One more restart: the reloaded state equals the live one again.
    var after: [NodeID: RestartScenario.Durable] = [:]
    for id in cluster.ids { after[id] = durable(try cluster.node(id)) }
    cluster.crashAll()
    try cluster.start()
    for id in cluster.ids { XCTAssertEqual(durable(try cluster.node(id)), after[id]) }
  }
}
