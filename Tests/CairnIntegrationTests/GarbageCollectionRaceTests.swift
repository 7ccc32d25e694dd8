import CairnClient
import CairnCore
import CairnTestSupport
import Foundation
import XCTest

/// Uploads, commits, deletes and garbage collection race on a real cluster with a 1 s grace:
/// blocks shared between files and volumes drop to zero references and are referenced again
/// while the collector fences and deletes them. No referenced block may ever be deleted: every
/// file of every volume's head reads back with its exact bytes, during the run and after the
/// collector has settled, and the collector did delete garbage meanwhile.
final class GarbageCollectionRaceTests: ChunkTierTestCase {
  static let blockBytes = 64 << 10
  /// A small pool of blocks, so files share them and they often go back and forth across zero.
  static let pool: [[UInt8]] = (0..<40).map { SharedClusterTestCase.randomBytes(blockBytes, seed: 5000 + UInt64($0)) }

  struct Stats: Sendable {
    var commits = 0
    var retries = 0
    var reads = 0
    var mismatches: [String] = []
    var orphans = 0
  }

  /// Uploads and commits `content` at `path`, retrying (same idempotency key) through refusals
  /// caused by garbage collection (`.unavailable`, `.missingBlocks`, an unknown outcome).
  static func put(_ client: CairnClient, _ volume: VolumeName, _ path: VolumePath, _ blocks: [Int], stats: inout Stats)
    async throws
  {
    let key = UUID().uuidString
    let manifest = Manifest(
      blocks: blocks.map { BlockRef(address: BlockAddress.of(Self.pool[$0]), length: UInt32(Self.blockBytes)) })
    for attempt in 0..<20 {
      do {
        _ = try await client.blocks.upload(blocks.map { (BlockAddress.of(Self.pool[$0]), Self.pool[$0]) }, replicas: 3)
        _ = try await client.commit(
          volume, changes: [.put(path, .file(manifest, Attributes(mode: 0o100644, mtimeNanos: 0)))], idempotencyKey: key)
        stats.commits += 1
        return
      } catch {
        let code = (error as? CairnError)?.code
        guard let code, [.unavailable, .missingBlocks, .unknownOutcome, .timeout].contains(code), attempt < 19 else {
          throw error
        }
        stats.retries += 1
        try await Task.sleep(for: .milliseconds(100))
      }
    }
  }

  static func read(_ client: CairnClient, _ volume: VolumeName, _ path: VolumePath) async throws -> [Int] {
    let entry = try await client.lookup(volume, path).entry
    var out: [Int] = []
    for ref in entry.manifest.blocks {
      let bytes = try await client.blocks.fetch(ref, locations: nil)
      guard let index = Self.pool.firstIndex(of: bytes) else {
        throw CairnError(.corruptBlock, "\(volume)\(path): a block is not one that was written")
      }
      out.append(index)
    }
    return out
  }

  /// One worker owns one volume; it puts, overwrites, deletes and recreates, and checks its files.
  static func worker(_ c: ClusterFixture, _ w: Int, seconds: Double) async throws -> Stats {
    let client = try c.client()
    defer { Task { await client.close() } }
    var rng = SplitMix(seed: UInt64(w) * 7919 + 1)
    let volume = try VolumeName("race-\(w)")
    let settings = VolumeSettings(blockBytes: UInt32(Self.blockBytes), replicationFactor: 3, retainedVersions: 1)
    _ = try await client.createVolume(volume, settings: settings)
    var expected: [String: [Int]] = [:]
    var stats = Stats()
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      let roll = rng.next() % 100
      let name = "f\(rng.next() % 6)"
      let path = try VolumePath("/" + name)
      if roll < 60 {
        let blocks = (0..<Int(1 + rng.next() % 4)).map { _ in Int(rng.next() % UInt64(Self.pool.count)) }
        try await put(client, volume, path, blocks, stats: &stats)
        expected[name] = blocks
      } else if roll < 65 {
        // An upload whose commit never comes: an orphan for the collector.
        let orphan = SharedClusterTestCase.randomBytes(Self.blockBytes, seed: rng.next())
        _ = try? await client.blocks.upload([(BlockAddress.of(orphan), orphan)], replicas: 3)
        stats.orphans += 1
      } else if roll < 85, expected[name] != nil {
        _ = try await client.commit(volume, changes: [.delete(path, recursive: false)])
        expected[name] = nil
      } else if roll < 90 {
        try await client.deleteVolume(volume)
        _ = try await client.createVolume(volume, settings: settings)
        expected = [:]
      } else if let (file, blocks) = expected.randomElement(using: &rng) {
        let got = try await read(client, volume, try VolumePath("/" + file))
        if got != blocks { stats.mismatches.append("\(volume)/\(file) during the run: \(got) != \(blocks)") }
        stats.reads += 1
      }
    }
    // Let the collector run a few passes over everything released, then check every file.
    try await Task.sleep(for: .seconds(3))
    for (file, blocks) in expected {
      let got = try await read(client, volume, try VolumePath("/" + file))
      if got != blocks { stats.mismatches.append("\(volume)/\(file) after collection: \(got) != \(blocks)") }
      stats.reads += 1
    }
    return stats
  }

  func testNoReferencedBlockIsDeletedWhileUploadsCommitsDeletesAndCollectionRace() async throws {
    // Three metadata servers: garbage collection runs on the Raft leader, decided in the log.
    let c = try start(
      chunkServers: 3, metaServers: 3,
      meta: """
        repair_grace_seconds = 1
        repair_interval_seconds = 1
        gc_grace_seconds = 0.5
        gc_interval_seconds = 0.3
        """)
    let totals = try await withThrowingTaskGroup(of: Stats.self) { group in
      for w in 0..<3 { group.addTask { try await Self.worker(c, w, seconds: 12) } }
      var all = Stats()
      for try await s in group {
        all.commits += s.commits
        all.retries += s.retries
        all.reads += s.reads
        all.mismatches += s.mismatches
        all.orphans += s.orphans
      }
      return all
    }
    XCTAssertEqual(totals.mismatches, [], "every committed file reads back exactly")
    XCTAssertGreaterThan(totals.commits, 50)
    XCTAssertGreaterThan(totals.retries, 0, "some commits met a fenced or collected block and were refused")
    let h = try health(c)
    XCTAssertGreaterThan(h["garbageCollected"] ?? 0, 0, "the collector deleted garbage during the race: \(h)")
    // Everything unreferenced is eventually gone from the disks: exactly the recorded copies remain.
    try c.waitUntil("only referenced copies left on disk", timeout: 30) {
      let h = try health(c)
      return h["garbagePending"] == 0 && h["replicas"] == blockFileCount(c, 1...3)
    }
    print("gc race: \(totals.commits) commits, \(totals.retries) retried after a refusal, \(totals.reads) verified reads, \(totals.orphans) abandoned uploads, \(h)")
  }
}

/// A tiny seeded generator for the workload.
struct SplitMix: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
