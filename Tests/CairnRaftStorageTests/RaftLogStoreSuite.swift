import CairnCore
import CairnKV
import CairnRaft
import CairnRaftStorage
import XCTest

/// Behaviour of `RaftLogStore` written once and run on `MemoryStore` and `RocksDBStore` alike
/// (`MemoryRaftLogStoreTests`, `RocksDBRaftLogStoreTests`). Each check reopens the store through
/// the factory before loading, so on RocksDB every load reads what a restart would.
enum RaftLogStoreSuite {
  static func reopened(_ factory: StoreFactory) throws -> RaftLogStore {
    try RaftLogStore(store: factory.open())
  }

  static func bootstrapped(_ factory: StoreFactory) throws -> RaftLogStore {
    let log = try reopened(factory)
    try log.overwrite(with: .bootstrap(voters: Fixtures.voters))
    return log
  }

  static func emptyStoreLoadsNothing(_ factory: StoreFactory) throws {
    let store = try factory.open()
    try Fixtures.putStateMachineKeys(store)
    XCTAssertNil(try RaftLogStore(store: store).load(), "state machine keys alone are not a Raft log")
  }

  static func roundTripsHardStateAndEntries(_ factory: StoreFactory) throws {
    do {
      let log = try bootstrapped(factory)
      try log.persist(hardState: HardState(term: 2, votedFor: 3, commitIndex: 0), snapshot: nil, entries: [])
      try log.persist(hardState: nil, snapshot: nil, entries: Fixtures.entries(1...3, term: 1))
      var effects = RaftEffects()
      effects.entriesToPersist = [Fixtures.entry(4, 2), Fixtures.entry(5, 2)]
      effects.hardState = HardState(term: 2, votedFor: 3, commitIndex: 4)
      try log.persist(effects)
      try log.persist(RaftEffects())  // nothing to write
    }
    let loaded = try XCTUnwrap(try reopened(factory).load())
    XCTAssertEqual(loaded.hardState, HardState(term: 2, votedFor: 3, commitIndex: 4))
    XCTAssertEqual(loaded.snapshot, PersistentState.bootstrap(voters: Fixtures.voters).snapshot)
    XCTAssertEqual(loaded.entries, Fixtures.entries(1...3, term: 1) + [Fixtures.entry(4, 2), Fixtures.entry(5, 2)])
    XCTAssertNil(loaded.appliedIndex)
    let again = try reopened(factory)
    XCTAssertEqual(try again.entries(from: 2, through: 4).map(\.index), [2, 3, 4])
    XCTAssertEqual(try again.hardState(), loaded.hardState)
  }

  static func replacesConflictingSuffix(_ factory: StoreFactory) throws {
    do {
      let log = try bootstrapped(factory)
      try log.persist(hardState: HardState(term: 1), snapshot: nil, entries: Fixtures.entries(1...6, term: 1))
      // A new leader's entries from index 3 conflict: 3...6 of term 1 must go, even 5 and 6.
      try log.persist(
        hardState: HardState(term: 3), snapshot: nil, entries: [Fixtures.entry(3, 3, "x"), Fixtures.entry(4, 3, "y")])
    }
    var loaded = try XCTUnwrap(try reopened(factory).load())
    XCTAssertEqual(
      loaded.entries, Fixtures.entries(1...2, term: 1) + [Fixtures.entry(3, 3, "x"), Fixtures.entry(4, 3, "y")])
    do {
      // Replacing exactly the last entry, and then appending after it.
      let log = try reopened(factory)
      try log.persist(hardState: nil, snapshot: nil, entries: [Fixtures.entry(4, 3, "z")])
      try log.persist(hardState: nil, snapshot: nil, entries: [Fixtures.entry(5, 3)])
    }
    loaded = try XCTUnwrap(try reopened(factory).load())
    XCTAssertEqual(loaded.entries.map(\.index), [1, 2, 3, 4, 5])
    XCTAssertEqual(loaded.entries[3], Fixtures.entry(4, 3, "z"))
  }

  static func snapshotTruncatesTheLogItCovers(_ factory: StoreFactory) throws {
    do {
      let log = try bootstrapped(factory)
      try log.persist(
        hardState: HardState(term: 2, commitIndex: 8), snapshot: nil, entries: Fixtures.entries(1...10, term: 2))
      // The application's own snapshot: entries after it stay.
      try log.persist(hardState: nil, snapshot: Fixtures.snapshot(index: 6, term: 2), entries: [])
    }
    var loaded = try XCTUnwrap(try reopened(factory).load())
    XCTAssertEqual(loaded.snapshot, Fixtures.snapshot(index: 6, term: 2))
    XCTAssertEqual(loaded.entries.map(\.index), [7, 8, 9, 10])
    XCTAssertEqual(try reopened(factory).entries(from: 1, through: 10).count, 0, "covered entries are deleted")
    do {
      // A snapshot from the leader replaces the whole log, even entries past its index.
      var effects = RaftEffects()
      effects.snapshotToPersist = Fixtures.snapshot(index: 8, term: 2, data: [1, 2, 3])
      effects.installsSnapshot = true
      effects.hardState = HardState(term: 4, votedFor: 2, commitIndex: 8)
      try reopened(factory).persist(effects)
    }
    loaded = try XCTUnwrap(try reopened(factory).load())
    XCTAssertEqual(loaded.snapshot.metadata.index, 8)
    XCTAssertEqual(loaded.snapshot.data, [1, 2, 3])
    XCTAssertEqual(loaded.entries, [])
    XCTAssertEqual(loaded.hardState, HardState(term: 4, votedFor: 2, commitIndex: 8))
  }

  static func compactsOnlyWhatTheSnapshotCovers(_ factory: StoreFactory) throws {
    let store = try factory.open()
    try Fixtures.putStateMachineKeys(store)
    let log = try RaftLogStore(store: store)
    try log.overwrite(
      with: PersistentState(
        hardState: HardState(term: 2, commitIndex: 5), snapshot: Fixtures.snapshot(index: 4, term: 1),
        entries: Fixtures.entries(5...6, term: 2)))
    // Entries at or below the snapshot, as an interrupted compaction would leave them.
    var leftovers = WriteBatch()
    for index: UInt8 in 1...4 {
      leftovers.put(
        [0x52, 0x45, 0, 0, 0, 0, 0, 0, 0, index], try BinaryEncoder().encode(Fixtures.entry(LogIndex(index), 1)))
    }
    try store.write(leftovers, sync: true)
    XCTAssertEqual(try log.load()?.entries.map(\.index), [5, 6], "entries below the snapshot are ignored")
    XCTAssertThrowsError(try log.compact(through: 5)) { error in
      XCTAssertEqual((error as? CairnError)?.code, .invalidArgument, "the snapshot does not cover index 5")
    }
    try log.compact(through: 3)
    XCTAssertEqual(try log.entries(from: 1, through: 3).map(\.index), [])
    XCTAssertEqual(try log.entries(from: 4, through: 9).map(\.index), [4, 5, 6])
    try log.compact(through: 4)
    XCTAssertEqual(try log.entries(from: 1, through: 9).map(\.index), [])
    XCTAssertEqual(try log.entries(from: 5, through: 9).map(\.index), [5, 6])
    XCTAssertEqual(try Fixtures.stateMachineKeys(store).count, Fixtures.stateMachinePairs.count)
  }

  static func leavesStateMachineKeysAlone(_ factory: StoreFactory) throws {
    let store = try factory.open()
    try Fixtures.putStateMachineKeys(store)
    let log = try RaftLogStore(store: store)
    try log.overwrite(with: .bootstrap(voters: Fixtures.voters))
    try log.persist(hardState: HardState(term: 1), snapshot: nil, entries: Fixtures.entries(1...3, term: 1))
    try log.persist(hardState: nil, snapshot: Fixtures.snapshot(index: 3, term: 1), installsSnapshot: true, entries: [])
    try log.overwrite(with: .joining)
    let expected = Dictionary(uniqueKeysWithValues: Fixtures.stateMachinePairs.map { ($0.0, $0.1) })
    XCTAssertEqual(try Fixtures.stateMachineKeys(store), expected)
    for (key, _) in try store.scan(prefix: []) where key.first == RaftLogStore.keyPrefix {
      XCTAssertTrue([[0x52, 0x48], [0x52, 0x53], [0x52, 0x56]].contains(key), "unexpected Raft key \(key)")
    }
  }

  /// Every `persist` is exactly one synced batch, and a write that never happened (a crash
  /// before it reached the disk) leaves the previous state whole: only whole batches are visible.
  static func persistsWholeBatchesOnly(_ factory: StoreFactory) throws {
    let recording = RecordingStore(try factory.open())
    let log = try RaftLogStore(store: recording)
    try log.overwrite(with: .bootstrap(voters: Fixtures.voters))
    try log.persist(
      hardState: HardState(term: 1, votedFor: 1), snapshot: nil, entries: Fixtures.entries(1...4, term: 1))
    let before = try log.load()
    var effects = RaftEffects()
    effects.hardState = HardState(term: 2, votedFor: 2, commitIndex: 2)
    effects.entriesToPersist = [Fixtures.entry(2, 2, "new")]
    effects.snapshotToPersist = nil
    recording.failNextWrite = true
    XCTAssertThrowsError(try log.persist(effects))
    XCTAssertEqual(try RaftLogStore(store: recording).load(), before, "a lost batch leaves no trace")
    try log.persist(effects)
    let after = try XCTUnwrap(try log.load())
    XCTAssertEqual(after.hardState, effects.hardState)
    XCTAssertEqual(after.entries, [Fixtures.entry(1, 1), Fixtures.entry(2, 2, "new")])
    XCTAssertEqual(recording.writes.count, 3, "bootstrap, one persist, the retried persist")
    XCTAssertTrue(recording.writes.allSatisfy(\.sync), "every write is synced")
  }

  static func refusesCorruptRecords(_ factory: StoreFactory) throws {
    let store = try factory.open()
    let log = try RaftLogStore(store: store)
    try log.overwrite(
      with: PersistentState(
        hardState: HardState(term: 2, commitIndex: 3), snapshot: Fixtures.snapshot(index: 0, term: 0),
        entries: Fixtures.entries(1...4, term: 2)))
    let good = try XCTUnwrap(try log.load())

    func expectCorrupt(_ what: String, _ mutate: (inout WriteBatch) throws -> Void) throws {
      var damage = WriteBatch()
      try mutate(&damage)
      try store.write(damage, sync: true)
      XCTAssertThrowsError(try RaftLogStore(store: store).load(), what) { error in
        XCTAssertEqual((error as? CairnError)?.code, .ioError, what)
        XCTAssertTrue("\(error)".contains("Raft log"), "\(what): \(error)")
      }
      try log.overwrite(with: good)
      XCTAssertEqual(try log.load(), good)
    }
    let entryKey: (UInt8) -> Bytes = { [0x52, 0x45, 0, 0, 0, 0, 0, 0, 0, $0] }
    try expectCorrupt("garbage hard state") { $0.put([0x52, 0x48], [0xFF, 0x01]) }
    try expectCorrupt("garbage snapshot") { $0.put([0x52, 0x53], []) }
    try expectCorrupt("garbage entry") { $0.put(entryKey(2), [0x42]) }
    try expectCorrupt("gap in the log") { $0.delete(entryKey(2)) }
    try expectCorrupt("entry under the wrong key") {
      $0.put(entryKey(3), try BinaryEncoder().encode(Fixtures.entry(9, 2)))
    }
    try expectCorrupt("term going back") { $0.put(entryKey(4), try BinaryEncoder().encode(Fixtures.entry(4, 1))) }
    try expectCorrupt("term from the future") { $0.put(entryKey(4), try BinaryEncoder().encode(Fixtures.entry(4, 9))) }
    try expectCorrupt("commit past the log") {
      $0.delete(entryKey(4)); $0.delete(entryKey(3))
    }
    try expectCorrupt("missing hard state") { $0.delete([0x52, 0x48]) }
    try expectCorrupt("missing version") { $0.delete([0x52, 0x56]) }
    try expectCorrupt("short version") { $0.put([0x52, 0x56], [1]) }

    var future = WriteBatch()
    future.put([0x52, 0x56], [0, 0, 0, 99])
    try store.write(future, sync: true)
    XCTAssertThrowsError(try RaftLogStore(store: store)) { error in
      XCTAssertEqual((error as? CairnError)?.code, .ioError)
      XCTAssertTrue("\(error)".contains("format version 99"), "\(error)")
    }
  }

  static func enforcesReadBounds(_ factory: StoreFactory) throws {
    let store = try factory.open()
    try RaftLogStore(store: store).overwrite(
      with: PersistentState(
        hardState: HardState(term: 1), snapshot: Fixtures.snapshot(index: 0, term: 0),
        entries: Fixtures.entries(1...10, term: 1)))
    let bounded = try RaftLogStore(store: store, limits: .init(maxEntriesPerLoad: 9, maxEntriesPerRead: 4))
    XCTAssertEqual(try bounded.entries(from: 2, through: 100).map(\.index), [2, 3, 4, 5])
    XCTAssertThrowsError(try bounded.load()) { error in
      XCTAssertEqual((error as? CairnError)?.code, .tooLarge)
      XCTAssertTrue("\(error)".contains("maxEntriesPerLoad"), "\(error)")
    }
    let tight = try RaftLogStore(store: store, limits: .init(maxRecordBytes: 64))
    XCTAssertThrowsError(
      try tight.persist(
        hardState: nil, snapshot: nil, entries: [Fixtures.entry(11, 1, String(repeating: "x", count: 100))])
    ) { error in XCTAssertEqual((error as? CairnError)?.code, .tooLarge) }
    XCTAssertEqual(try bounded.entries(from: 11, through: 11), [], "a refused record writes nothing")
  }
}
