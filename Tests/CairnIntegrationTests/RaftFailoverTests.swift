import CairnClient
import CairnCore
import CairnTestSupport
import CairnTransport
import CairnWire
import Foundation
import XCTest

/// Issue "Raft", requirement 7, on real processes: a 3-member metadata group under continuous
/// commits from several clients while the leader is killed (-9), paused (SIGSTOP) longer than the
/// election timeout, followers are restarted, and a member is cut off (TCP proxies that drop the
/// links). Afterwards every acknowledged commit is present exactly once, the versions are gap-free
/// and identical on every member, and after each fault commits resumed within 3 election timeouts.
final class RaftFailoverTests: XCTestCase {
  /// What the clients saw, by commit key (each commit adds one unique empty file, message = key).
  actor Ledger {
    var acked: [String: (version: UInt64, started: Date, at: Date)] = [:]
    var unknown: Set<String> = []
    var failed: [String: String] = [:]

    func ack(_ key: String, _ version: UInt64, started: Date) { acked[key] = (version, started, Date()) }
    func markUnknown(_ key: String) { unknown.insert(key) }
    func fail(_ key: String, _ message: String) { failed[key] = message }
    /// When the first commit that started after `time` was acknowledged (a commit already in
    /// flight may still complete through the old leader, so it does not count).
    func firstAck(after time: Date) -> Date? { acked.values.filter { $0.started > time }.map(\.at).min() }
    func count() -> Int { acked.count }
  }

  final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
  }

  let electionTimeoutMs = 1000
  var group: RaftGroup?

  override func tearDown() {
    group?.stop()
    if let group, testRun?.hasSucceeded == true { group.removeDirectory() }
    group = nil
    super.tearDown()
  }

  func testAcknowledgedCommitsSurviveLeaderKillPauseRestartsAndIsolation() async throws {
    // Snapshots every 300 entries: members compact often, and a follower that was down for a
    // while is caught up from a checkpoint.
    let group = try RaftGroup(size: 3, electionTimeoutMs: electionTimeoutMs, snapshotEntries: 300)
    self.group = group
    _ = try await group.waitForLeader()
    let volume = try VolumeName("raft")
    let setup = CairnClient(metaAddresses: group.addresses, timeout: .seconds(20))
    _ = try await setup.createVolume(volume, settings: VolumeSettings(replicationFactor: 1, retainedVersions: 1_000_000))
    await setup.close()

    let ledger = Ledger()
    let stop = Flag()
    let clients = 4
    let addresses = group.addresses
    let workers = (0..<clients).map { c in
      Task {
        // 1 s attempts: a client whose request hangs on a stopped leader moves on after 1 s, so
        // what is measured is the group's failover, not a client's patience (with 2 s attempts a
        // loaded machine measured 4.1 s after a SIGSTOP: 2 s of it waiting). A long call budget:
        // the commit in flight at the fault keeps retrying (same key) until the new leader takes
        // it. With a 3 s budget it gave up as "unknown" at 3.0 s whenever the election took over
        // about 2 s, and only then did the next commit start: CI measured 3.00–3.11 s with
        // "4 unknown", the clients' budget rather than the group's failover.
        let client = CairnClient(metaAddresses: addresses, timeout: .seconds(20), attemptTimeout: .seconds(1))
        var n = 0
        while !stop.isSet {
          n += 1
          let key = "c\(c)-\(n)"
          let path = try VolumePath("/c\(c)/\(n)")
          let file = NewEntry.file(Manifest(), Attributes(mode: 0o644, mtimeNanos: 1))
          let started = Date()
          do {
            let result = try await client.commit(
              volume, changes: [.put(path, file)], baseVersion: 1, message: key, idempotencyKey: key)
            await ledger.ack(key, result.version, started: started)
          } catch let error as CairnError where error.code == .unknownOutcome {
            await ledger.markUnknown(key)
          } catch {
            await ledger.fail(key, "\(error)")
            try? await Task.sleep(for: .milliseconds(50))
          }
        }
        await client.close()
      }
    }

    let bound = Double(3 * electionTimeoutMs) / 1000
    var resumed: [(String, Double)] = []
    /// Injects a fault and measures how long until the next acknowledged commit.
    func fault(_ what: String, _ inject: () async throws -> Void) async throws {
      try await Task.sleep(for: .seconds(2))
      let before = await ledger.count()
      let start = Date()
      try await inject()
      let deadline = start.addingTimeInterval(30)
      while await ledger.firstAck(after: start) == nil, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
      guard let first = await ledger.firstAck(after: start) else {
        XCTFail("\(what): no commit acknowledged within 30 s\n\(group.logTails())")
        return
      }
      resumed.append((what, first.timeIntervalSince(start)))
      let after = await ledger.count()
      XCTAssertGreaterThan(after, before)
    }

    // 1. kill -9 the leader, restart it later.
    let leader1 = try await group.waitForLeader()
    try await fault("kill -9 leader \(leader1)") { group.kill9(leader1) }
    try group.start(leader1)
    // 2. SIGSTOP the leader for 2.5 election timeouts, then SIGCONT.
    let leader2 = try await group.waitForLeader()
    try await fault("SIGSTOP leader \(leader2)") {
      group.signal(leader2, SIGSTOP)
    }
    try await Task.sleep(for: .milliseconds(electionTimeoutMs * 5 / 2))
    group.signal(leader2, SIGCONT)
    // 3. Restart both followers, one kill -9 and one SIGTERM.
    let leader3 = try await group.waitForLeader()
    let followers = (1...3).filter { $0 != leader3 }
    try await Task.sleep(for: .seconds(1))
    group.kill9(followers[0])
    try await Task.sleep(for: .seconds(1))
    try group.start(followers[0])
    try await Task.sleep(for: .seconds(2))
    group.terminate(followers[1])
    try group.start(followers[1])
    // A follower down long enough that the leader compacts past it: it needs a snapshot.
    let leader3b = try await group.waitForLeader()
    let lagging = (1...3).first { $0 != leader3b }!
    group.kill9(lagging)
    let compactedPast = Date().addingTimeInterval(30)
    while Date() < compactedPast {
      if let s = await group.status(leader3b), s.snapshotIndex > 0,
        s.progress.first(where: { $0.id == UInt64(lagging) }).map({ $0.matchIndex < s.snapshotIndex }) ?? false
      {
        break
      }
      try await Task.sleep(for: .milliseconds(100))
    }
    try group.start(lagging)
    let installed = Date().addingTimeInterval(30)
    while !group.log(lagging).contains("snapshot installed"), Date() < installed { try await Task.sleep(for: .milliseconds(100)) }
    XCTAssertTrue(group.log(lagging).contains("snapshot installed"), "member \(lagging) caught up by a snapshot")
    // 3c. SIGTERM the leader: it hands leadership over before stopping (no election timeout).
    let leaderTerm = try await group.waitForLeader()
    try await fault("SIGTERM leader \(leaderTerm)") { group.terminate(leaderTerm) }
    XCTAssertTrue(group.log(leaderTerm).contains("leadership handed over"), "member \(leaderTerm) handed over")
    try group.start(leaderTerm)
    // 4. Cut the leader off from both peers (it keeps running; clients still reach it).
    let leader4 = try await group.waitForLeader()
    try await fault("isolate leader \(leader4)") { group.isolate(leader4) }
    try await Task.sleep(for: .seconds(2))
    group.isolate(leader4, false)
    // 5. Cut a follower off briefly.
    let leader5 = try await group.waitForLeader()
    let follower5 = (1...3).first { $0 != leader5 }!
    group.isolate(follower5)
    try await Task.sleep(for: .seconds(3))
    group.isolate(follower5, false)
    try await Task.sleep(for: .seconds(2))

    stop.set()
    for worker in workers { _ = await worker.result }
    try await group.waitConverged()

    // Every member holds the same gap-free history.
    var histories: [[VersionInfo]] = []
    for k in 1...3 { histories.append(try await group.history(k, volume: volume).sorted { $0.version < $1.version }) }
    let versions = histories[0].map(\.version)
    XCTAssertEqual(versions, Array(1...UInt64(versions.count)), "versions are gap-free")
    for k in 1..<3 {
      XCTAssertEqual(histories[k].map(\.version), versions, "member \(k + 1) has the same versions")
      XCTAssertEqual(histories[k].map(\.message), histories[0].map(\.message), "member \(k + 1) has the same commits")
    }
    // Every acknowledged commit exactly once, at the version the client was told; nothing twice.
    var byKey: [String: [UInt64]] = [:]
    for info in histories[0] where info.version > 1 { byKey[info.message, default: []].append(info.version) }
    let (acked, unknown, failed) = await (ledger.acked, ledger.unknown, ledger.failed)
    for (key, versions) in byKey { XCTAssertEqual(versions.count, 1, "commit \(key) applied \(versions.count) times") }
    for (key, ack) in acked { XCTAssertEqual(byKey[key], [ack.version], "acknowledged commit \(key)") }
    for key in failed.keys { XCTAssertNil(byKey[key], "commit \(key) reported failed but applied: \(failed[key] ?? "")") }
    XCTAssertEqual(byKey.count, versions.count - 1, "every version after the first is one client commit")
    var writes: [String] = []
    for k in 1...3 {
      if let s = await group.status(k) { writes.append("member \(k): \(s.entriesWritten) entries in \(s.syncedWrites) synced writes") }
    }
    print("raft group commit since the last restart of each member: \(writes.joined(separator: "; "))")
    let summary = resumed.map { "\($0.0): \(String(format: "%.2f", $0.1)) s" }.joined(separator: ", ")
    print(
      "raft failover: \(acked.count) acknowledged, \(unknown.count) unknown, \(failed.count) failed commits; "
        + "\(versions.count) versions; resumed after \(summary)")
    for (what, seconds) in resumed {
      XCTAssertLessThanOrEqual(seconds, bound, "\(what): commits resumed after \(seconds) s (bound \(bound) s)")
    }
    XCTAssertGreaterThan(acked.count, 50)
  }
}
