import CairnCore
import CairnKV
import CairnMetadata
import CairnRaft
import CairnRaftStorage
import CairnRocksDB
import Foundation
import Logging
import XCTest

@testable import CairnMetaServer

/// Snapshots with real RocksDB stores in temporary directories and an in-process network that
/// moves a checkpoint the way `SnapshotSender`/`SnapshotIntake` do (files copied into a staging
/// directory, then `installSnapshot`): members compact, a member cut off while the others
/// compacted past it is caught up from a checkpoint, and every member ends with the same state.
final class RaftSnapshotTests: XCTestCase {
  final class Network: @unchecked Sendable {
    let lock = NSLock()
    var drivers: [NodeID: RaftDriver] = [:]
    var directories: [NodeID: String] = [:]
    var isolated: Set<NodeID> = []
    var installs = 0

    func deliver(_ messages: [Message]) {
      let (targets, cut) = lock.withLock { (drivers, isolated) }
      for m in messages where !cut.contains(m.from) && !cut.contains(m.to) {
        guard let target = targets[m.to] else { continue }
        if case .installSnapshot(let snapshot) = m.kind {
          let (from, to) = lock.withLock { (directories[m.from]!, directories[m.to]!) }
          let staged = to + "/staged-\(snapshot.metadata.index)"
          try? FileManager.default.removeItem(atPath: staged)
          do {
            try FileManager.default.copyItem(atPath: from + "/snapshots/\(snapshot.metadata.index)", toPath: staged)
          } catch { continue }  // the sender replaced that checkpoint meanwhile: the core resends
          lock.withLock { installs += 1 }
          Task { _ = await target.installSnapshot(m, staged: staged) }
        } else {
          target.receive(m)
        }
      }
    }
  }

  var directories: [String] = []

  override func tearDown() {
    for d in directories { try? FileManager.default.removeItem(atPath: d) }
    super.tearDown()
  }

  func testLaggingMemberIsCaughtUpFromACheckpoint() async throws {
    let network = Network()
    let voters: [NodeID] = [1, 2, 3]
    var members: [(driver: RaftDriver, store: RocksDBStore)] = []
    for id in voters {
      let dir = NSTemporaryDirectory() + "cairn-snap-\(id.rawValue)-\(UUID().uuidString.prefix(6))"
      directories.append(dir)
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      let store = try RocksDBStore(path: dir + "/db")
      let machine = try MetadataStateMachine(store: store)
      let driver = try RaftDriver(
        options: RaftOptions(id: id, electionTicks: 10, heartbeatTicks: 2, randomSeed: id.rawValue * 31),
        log: try RaftLogStore(store: store), machine: machine, bootstrapVoters: voters,
        addresses: [1: "127.0.0.1:1", 2: "127.0.0.1:2", 3: "127.0.0.1:3"], tickInterval: .milliseconds(10),
        logger: Logger(label: "test"), snapshots: .init(directory: dir + "/snapshots", everyEntries: 20),
        send: { network.deliver($0) })
      network.lock.withLock {
        network.drivers[id] = driver
        network.directories[id] = dir
      }
      members.append((driver, store))
    }
    for m in members { m.driver.start() }
    func leader() async throws -> RaftDriver {
      for _ in 0..<1000 {
        let cut = network.lock.withLock { network.isolated }
        if let l = members.first(where: { $0.driver.isLeader && !cut.contains($0.driver.id) }) { return l.driver }
        try await Task.sleep(for: .milliseconds(10))
      }
      throw CairnError(.timeout, "no leader")
    }
    var l = try await leader()
    let lagging = members.first { $0.driver.id != l.id }!.driver.id
    network.lock.withLock { _ = network.isolated.insert(lagging) }
    for i in 0..<100 {
      l = try await leader()
      _ = try await l.propose(.metadata(.createVolume(try VolumeName("v\(i)"), VolumeSettings(), timeNanos: 1))).get()
    }
    XCTAssertGreaterThanOrEqual(l.status.snapshotIndex, 80, "the leader compacted its log")
    network.lock.withLock { _ = network.isolated.remove(lagging) }
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
      let applied = members.map { $0.driver.status.appliedIndex }
      if Set(applied).count == 1 && network.lock.withLock({ network.installs }) > 0 { break }
      try await Task.sleep(for: .milliseconds(20))
    }
    XCTAssertGreaterThan(network.lock.withLock { network.installs }, 0, "a snapshot was sent")
    let names = try members.map { try MetadataReader(store: $0.store).volumes().map(\.name.rawValue).sorted() }
    XCTAssertEqual(names[0].count, 100)
    XCTAssertEqual(names[0], names[1])
    XCTAssertEqual(names[1], names[2])
    let caughtUp = members.first { $0.driver.id == lagging }!
    XCTAssertGreaterThan(caughtUp.driver.status.snapshotIndex, 0, "the lagging member installed a snapshot")
    // A proposal after the install works everywhere.
    l = try await leader()
    _ = try await l.propose(.metadata(.createVolume(try VolumeName("after"), VolumeSettings(), timeNanos: 1))).get()
    for m in members { await m.driver.stop() }
  }
}
