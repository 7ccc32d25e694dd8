import CairnCore
import CairnKV
import CairnMetadata
import CairnRaft
import CairnRaftStorage
import Logging
import XCTest

@testable import CairnMetaServer

/// The Raft driver with in-memory parts: MemoryStores for log and state machine, and an
/// in-process "network" that delivers each batch of messages to the other drivers (and can
/// drop everything to or from a member). Real RaftNodes, real RaftLogStore, real state machine.
final class RaftDriverTests: XCTestCase {
  final class Network: @unchecked Sendable {
    let lock = NSLock()
    var drivers: [NodeID: RaftDriver] = [:]
    var isolated: Set<NodeID> = []

    func deliver(_ messages: [Message]) {
      let (targets, cut) = lock.withLock { (drivers, isolated) }
      for m in messages where !cut.contains(m.from) && !cut.contains(m.to) { targets[m.to]?.receive(m) }
    }
  }

  struct Member {
    let driver: RaftDriver
    let store: MemoryStore
    let machine: MetadataStateMachine
  }

  func makeMember(_ id: NodeID, voters: [NodeID], network: Network, store: MemoryStore = MemoryStore()) throws -> Member {
    let machine = try MetadataStateMachine(store: store)
    let driver = try RaftDriver(
      options: RaftOptions(id: id, electionTicks: 10, heartbeatTicks: 2, randomSeed: id.rawValue * 7919),
      log: try RaftLogStore(store: store), machine: machine, bootstrapVoters: voters,
      addresses: Dictionary(uniqueKeysWithValues: voters.map { ($0.rawValue, "127.0.0.1:\(7000 + $0.rawValue)") }),
      tickInterval: .milliseconds(10), logger: Logger(label: "test"), send: { network.deliver($0) })
    network.lock.withLock { network.drivers[id] = driver }
    driver.start()
    return Member(driver: driver, store: store, machine: machine)
  }

  func waitForLeader(_ members: [Member], excluding: Set<NodeID> = [], timeout: Double = 10) async throws -> Member {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if let leader = members.first(where: { $0.driver.isLeader && !excluding.contains($0.driver.id) }) { return leader }
      try await Task.sleep(for: .milliseconds(10))
    }
    throw CairnError(.timeout, "no leader elected")
  }

  static func create(_ name: String) throws -> ReplicatedCommand {
    .metadata(.createVolume(try VolumeName(name), VolumeSettings(), timeNanos: 1))
  }

  func testSingleMemberGroupCommitsAndRestartsWithoutReapplying() async throws {
    let network = Network()
    let store = MemoryStore()
    var member = try makeMember(1, voters: [1], network: network, store: store)
    _ = try await waitForLeader([member])
    // Many proposals at once share batches (group commit); every one gets its own result.
    let driver = member.driver
    try await withThrowingTaskGroup(of: Void.self) { group in
      for i in 0..<50 {
        group.addTask {
          let result = await driver.propose(try Self.create("v\(i)"))
          guard case .success(.volume(let info)) = result else { throw CairnError(.internalError, "\(result)") }
          XCTAssertEqual(info.name.rawValue, "v\(i)")
        }
      }
      try await group.waitForAll()
    }
    let duplicate = await member.driver.propose(try Self.create("v1"))
    guard case .failure(let error) = duplicate else { return XCTFail("duplicate name accepted") }
    XCTAssertEqual(error.code, .alreadyExists)
    let applied = member.machine.appliedIndex
    await member.driver.stop()
    member = try makeMember(1, voters: [1], network: network, store: store)
    _ = try await waitForLeader([member])
    XCTAssertGreaterThanOrEqual(member.machine.appliedIndex, applied)
    XCTAssertEqual(try MetadataReader(store: store).volumes().count, 50)
    await member.driver.stop()
  }

  func testThreeMembersReplicateAndFailOver() async throws {
    let network = Network()
    let voters: [NodeID] = [1, 2, 3]
    let members = try voters.map { try makeMember($0, voters: voters, network: network) }
    let leader = try await waitForLeader(members)
    for i in 0..<10 { _ = try await leader.driver.propose(try Self.create("a\(i)")).get() }
    // A follower refuses writes, naming the leader.
    let follower = members.first { $0.driver.id != leader.driver.id }!
    do {
      try RaftProposer(driver: follower.driver).requireLeader()
      XCTFail("a follower accepted a write")
    } catch {
      XCTAssertEqual(error.code, .notLeader)
      XCTAssertEqual(error.details, ["127.0.0.1:\(7000 + leader.driver.id.rawValue)"])
    }
    // Cut the leader off: the others elect a new one and go on; the old one's proposal fails
    // or waits, never succeeds alone.
    network.lock.withLock { _ = network.isolated.insert(leader.driver.id) }
    let oldLeader = leader.driver
    let orphanCommand = try Self.create("orphan")
    let orphan = Task { await oldLeader.propose(orphanCommand) }
    let second = try await waitForLeader(members, excluding: [leader.driver.id])
    for i in 0..<10 { _ = try await second.driver.propose(try Self.create("b\(i)")).get() }
    network.lock.withLock { _ = network.isolated.remove(leader.driver.id) }
    // The old leader rejoins, its uncommitted entry is replaced, and its proposal fails retryably.
    let outcome = await orphan.value
    guard case .failure(let error) = outcome else { return XCTFail("an isolated leader committed alone") }
    XCTAssertEqual(error.code, .notLeader)
    _ = try await second.driver.propose(try Self.create("c")).get()
    // Every member converges on the same applied state.
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline, Set(members.map(\.machine.appliedIndex)).count > 1 { try await Task.sleep(for: .milliseconds(20)) }
    XCTAssertEqual(Set(members.map(\.machine.appliedIndex)).count, 1)
    let names = try members.map { try MetadataReader(store: $0.store).volumes().map(\.name.rawValue).sorted() }
    XCTAssertEqual(names[0].count, 21)
    XCTAssertFalse(names[0].contains("orphan"))
    XCTAssertEqual(names[0], names[1])
    XCTAssertEqual(names[1], names[2])
    // ReadIndex on the leader succeeds (reads arriving together share one request); on a
    // follower it is refused.
    let leaderDriver = second.driver
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<40 { group.addTask { try await leaderDriver.readBarrier().get() } }
      try await group.waitForAll()
    }
    let otherFollower = members.first { !$0.driver.isLeader }!.driver
    let refused = await otherFollower.readBarrier()
    guard case .failure(let readError) = refused else { return XCTFail("a follower confirmed a read") }
    XCTAssertEqual(readError.code, .notLeader)
    for m in members { await m.driver.stop() }
  }

  func testMergedBatchesKeepTheLogContiguous() {
    var batch = RaftBatch()
    var a = RaftEffects()
    a.entriesToPersist = (5...7).map { LogEntry(index: $0, term: 2, payload: .noop) }
    batch.merge(a)
    var b = RaftEffects()
    b.entriesToPersist = (6...6).map { LogEntry(index: $0, term: 3, payload: .noop) }
    batch.merge(b)
    XCTAssertEqual(batch.entries.map(\.index), [5, 6])
    XCTAssertEqual(batch.entries.map(\.term), [2, 3])
    var c = RaftEffects()
    c.hardState = HardState(term: 3, votedFor: 1, commitIndex: 5)
    c.entriesToPersist = [LogEntry(index: 7, term: 3, payload: .noop)]
    batch.merge(c)
    XCTAssertEqual(batch.entries.map(\.index), [5, 6, 7])
    XCTAssertEqual(batch.hardState?.commitIndex, 5)
  }

  func testCommittedEntriesAreAppliedBeforeTheWriteOnlyWhenAlreadyDurable() {
    let durable = HardState(term: 3, votedFor: 1, commitIndex: 4)
    func batch(committed: ClosedRange<UInt64>?, entries: ClosedRange<UInt64>?, hard: HardState?) -> RaftBatch {
      var b = RaftBatch()
      b.committed = committed.map { $0.map { LogEntry(index: $0, term: 3, payload: .noop) } } ?? []
      b.entries = entries.map { $0.map { LogEntry(index: $0, term: 3, payload: .noop) } } ?? []
      b.hardState = hard
      return b
    }
    let commitTo6 = HardState(term: 3, votedFor: 1, commitIndex: 6)
    // A leader's usual batch: acknowledgements commit 5...6 (on disk), new proposals 9...10.
    XCTAssertTrue(batch(committed: 5...6, entries: 9...10, hard: commitTo6).appliesBeforeItsWrite(durableLastIndex: 8, durable: durable))
    XCTAssertTrue(batch(committed: 5...6, entries: 9...10, hard: nil).appliesBeforeItsWrite(durableLastIndex: 8, durable: durable))
    // Committed entries not yet on disk (a one-member group, or a follower's append with its commit).
    XCTAssertFalse(batch(committed: 5...9, entries: 9...10, hard: commitTo6).appliesBeforeItsWrite(durableLastIndex: 8, durable: durable))
    XCTAssertFalse(batch(committed: 5...6, entries: nil, hard: commitTo6).appliesBeforeItsWrite(durableLastIndex: 5, durable: durable))
    XCTAssertFalse(
      batch(committed: 5...6, entries: 7...7, hard: HardState(term: 3, votedFor: 1, commitIndex: 7))
        .appliesBeforeItsWrite(durableLastIndex: 6, durable: durable), "commit index past the durable log")
    // A new term or vote is synced before anything else happens.
    XCTAssertFalse(
      batch(committed: 5...6, entries: 9...10, hard: HardState(term: 4, votedFor: 1, commitIndex: 6))
        .appliesBeforeItsWrite(durableLastIndex: 8, durable: durable))
    XCTAssertFalse(
      batch(committed: 5...6, entries: 9...10, hard: HardState(term: 3, votedFor: 2, commitIndex: 6))
        .appliesBeforeItsWrite(durableLastIndex: 8, durable: durable))
    // Nothing committed, or nothing to write (then the order does not matter).
    XCTAssertFalse(batch(committed: nil, entries: 9...10, hard: nil).appliesBeforeItsWrite(durableLastIndex: 8, durable: durable))
    XCTAssertFalse(batch(committed: 5...6, entries: nil, hard: nil).appliesBeforeItsWrite(durableLastIndex: 8, durable: durable))
  }

  func testPackingKeepsFramesBounded() {
    let big = LogEntry(index: 1, term: 1, payload: .command(Array(repeating: 1, count: 1 << 20)))
    let messages = (0..<10).map { _ in
      Message(from: 1, to: 2, term: 1, kind: .appendRequest(previousIndex: 0, previousTerm: 0, entries: [big], leaderCommit: 0))
    }
    let groups = packMessages(messages, maxBytes: 4 << 20)
    XCTAssertEqual(groups.flatMap { $0 }.count, 10)
    XCTAssertTrue(groups.allSatisfy { $0.count <= 4 })
  }

  func testSingleServerStoreIsNotSilentlyTurnedIntoARaftMember() throws {
    let store = MemoryStore()
    let machine = try MetadataStateMachine(store: store)
    _ = try machine.applyNext(.createVolume(try VolumeName("old"), VolumeSettings(), timeNanos: 1))
    XCTAssertThrowsError(
      try RaftDriver(
        options: RaftOptions(id: 1), log: try RaftLogStore(store: store), machine: machine, bootstrapVoters: [1],
        addresses: [:], tickInterval: .milliseconds(10), logger: Logger(label: "test"), send: { _ in })
    ) { error in
      XCTAssertTrue("\(error)".contains("single-server"), "\(error)")
    }
  }
}
