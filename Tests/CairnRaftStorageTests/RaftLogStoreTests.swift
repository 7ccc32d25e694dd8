import CairnCore
import CairnKV
import CairnRaft
import CairnRaftStorage
import CairnRocksDB
import XCTest

final class MemoryRaftLogStoreTests: XCTestCase {
  private func factory() -> StoreFactory { .memory() }

  func testEmptyStoreLoadsNothing() throws { try RaftLogStoreSuite.emptyStoreLoadsNothing(factory()) }
  func testRoundTripsHardStateAndEntries() throws { try RaftLogStoreSuite.roundTripsHardStateAndEntries(factory()) }
  func testReplacesConflictingSuffix() throws { try RaftLogStoreSuite.replacesConflictingSuffix(factory()) }
  func testSnapshotTruncatesTheLogItCovers() throws { try RaftLogStoreSuite.snapshotTruncatesTheLogItCovers(factory()) }
  func testCompactsOnlyWhatTheSnapshotCovers() throws {
    try RaftLogStoreSuite.compactsOnlyWhatTheSnapshotCovers(factory())
  }
  func testLeavesStateMachineKeysAlone() throws { try RaftLogStoreSuite.leavesStateMachineKeysAlone(factory()) }
  func testPersistsWholeBatchesOnly() throws { try RaftLogStoreSuite.persistsWholeBatchesOnly(factory()) }
  func testRefusesCorruptRecords() throws { try RaftLogStoreSuite.refusesCorruptRecords(factory()) }
  func testEnforcesReadBounds() throws { try RaftLogStoreSuite.enforcesReadBounds(factory()) }

  func testNodesRebuiltFromTheLogContinueAfterRestart() throws {
    try RestartScenario.run(DurableCluster(ids: [1, 2, 3]) { _ in .memory() })
  }
}

final class RocksDBRaftLogStoreTests: XCTestCase {
  private var directory: TemporaryDirectory?

  override func setUpWithError() throws { directory = try TemporaryDirectory() }
  override func tearDown() { directory = nil }

  private func factory(_ name: String = "db") throws -> StoreFactory {
    .rocksDB(at: try XCTUnwrap(directory).path + "/" + name)
  }

  func testEmptyStoreLoadsNothing() throws { try RaftLogStoreSuite.emptyStoreLoadsNothing(factory()) }
  func testRoundTripsHardStateAndEntries() throws { try RaftLogStoreSuite.roundTripsHardStateAndEntries(factory()) }
  func testReplacesConflictingSuffix() throws { try RaftLogStoreSuite.replacesConflictingSuffix(factory()) }
  func testSnapshotTruncatesTheLogItCovers() throws { try RaftLogStoreSuite.snapshotTruncatesTheLogItCovers(factory()) }
  func testCompactsOnlyWhatTheSnapshotCovers() throws {
    try RaftLogStoreSuite.compactsOnlyWhatTheSnapshotCovers(factory())
  }
  func testLeavesStateMachineKeysAlone() throws { try RaftLogStoreSuite.leavesStateMachineKeysAlone(factory()) }
  func testPersistsWholeBatchesOnly() throws { try RaftLogStoreSuite.persistsWholeBatchesOnly(factory()) }
  func testRefusesCorruptRecords() throws { try RaftLogStoreSuite.refusesCorruptRecords(factory()) }
  func testEnforcesReadBounds() throws { try RaftLogStoreSuite.enforcesReadBounds(factory()) }

  func testNodesRebuiltFromTheLogContinueAfterRestart() throws {
    let root = try XCTUnwrap(directory).path
    try RestartScenario.run(DurableCluster(ids: [1, 2, 3]) { .rocksDB(at: root + "/node\($0.rawValue)") })
  }

  /// Reopening RocksDB after many persists (with conflicts and a snapshot) gives back exactly
  /// the state a `MemoryStore` twin fed the same batches holds.
  func testReopenedRocksDBMatchesMemoryTwin() throws {
    let memory = try RaftLogStore(store: MemoryStore())
    let rocks = try factory()
    do {
      let durable = try RaftLogStore(store: rocks.open())
      for log in [memory, durable] {
        try log.overwrite(with: .bootstrap(voters: Fixtures.voters))
        var term: Term = 1
        var next: LogIndex = 1
        for round in 0..<40 {
          if round % 7 == 6 { term += 1; next = max(1, next - 3) }  // a new leader overwrites a suffix
          let batch = (next...(next + 2)).map { Fixtures.entry($0, term) }
          try log.persist(
            hardState: HardState(term: term, votedFor: 1, commitIndex: next - 1), snapshot: nil, entries: batch)
          next += 3
          if round == 30 {
            try log.persist(hardState: nil, snapshot: Fixtures.snapshot(index: next - 10, term: term), entries: [])
          }
        }
      }
    }
    let reopened = try RaftLogStore(store: rocks.open()).load()
    XCTAssertNotNil(reopened)
    XCTAssertEqual(reopened, try memory.load())
  }

  /// A real restart of RocksDB: only synced, whole batches come back; unrelated async writes of
  /// the state machine do not disturb the Raft keys.
  func testSyncedBatchesSurviveReopenNextToStateMachineWrites() throws {
    let rocks = try factory()
    var expected: PersistentState?
    do {
      let store = try rocks.open()
      let log = try RaftLogStore(store: store)
      try log.overwrite(with: .bootstrap(voters: Fixtures.voters))
      for index: LogIndex in 1...50 {
        try log.persist(
          hardState: HardState(term: 1, votedFor: 2, commitIndex: index - 1), snapshot: nil,
          entries: [Fixtures.entry(index, 1)])
        var stateMachine = WriteBatch()
        stateMachine.put([0x4D] + Array("k\(index)".utf8), [UInt8(truncatingIfNeeded: index)])
        try store.write(stateMachine, sync: false)
      }
      expected = try log.load()
    }
    let store = try rocks.open()
    XCTAssertEqual(try RaftLogStore(store: store).load(), expected)
    XCTAssertEqual(expected?.entries.count, 50)
    XCTAssertEqual(try Fixtures.stateMachineKeys(store).count, 50)
  }
}
