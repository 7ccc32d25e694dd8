import CairnCore
import CairnTestSupport
import CairnWire
import Foundation
import XCTest

@testable import CairnClient

/// Issue 6 (chunk tier, seen in the chaos harness's jun-2025 scenario): a write whose placement
/// includes a dead and a full server topped its quorum up on only as many next-ranked servers as
/// copies were missing; when that spare was out too, the put failed ("durable on 1 of 3
/// servers, 2 needed") although healthy servers were left. Spares are now tried in rendezvous
/// order until the quorum is met.
final class PlacementDeadAndFullTests: XCTestCase {
  /// The top-up loop alone: placed [dead, full, ok], spares [dead, ok].
  func testSparesAreTriedInOrderUntilTheQuorumIsMet() async {
    let healthy: Set<UInt64> = [3, 5]
    let calls = CallLog()
    let (outcome, tried) = await BlockTransfer.putWithSpares(placed: [1, 2, 3], spares: [4, 5], quorum: 2) { ids, _ in
      calls.append(ids)
      var o = BlockTransfer.PutOutcome()
      for id in ids {
        if healthy.contains(id) {
          o.durable += 1
          o.sent += 1
        } else {
          o.errors.append("server \(id): down or full")
        }
      }
      return o
    }
    XCTAssertEqual(outcome.durable, 2)
    XCTAssertEqual(tried, 5)
    XCTAssertEqual(calls.all, [[1, 2, 3], [4], [5]], "one spare per missing copy, in rendezvous order")
  }

  func testNoSpareIsUsedWhenThePlacementSuffices() async {
    let (outcome, tried) = await BlockTransfer.putWithSpares(placed: [1, 2, 3], spares: [4, 5], quorum: 2) { ids, _ in
      var o = BlockTransfer.PutOutcome()
      o.durable = ids.count
      return o
    }
    XCTAssertEqual(outcome.durable, 3)
    XCTAssertEqual(tried, 3)
  }

  /// Real processes: 5 chunk servers, R=3. chunk-5's data directory is a small tmpfs that is
  /// filled just before the put; a placed server and the first spare are killed. The client
  /// still has the list in which all five were up with free space (as during a fault, before
  /// heartbeats tell), so its placement hits the full and the dead server, and the first spare
  /// is dead too: the put must land on the two healthy servers left.
  func testAPutWhosePlacementHitsADeadAndAFullServerUsesTheHealthyOnes() async throws {
    let cluster = try ClusterFixture(chunkServers: 5, metaServers: 1)
    defer { cluster.stop() }
    let dir = cluster.directory + "/chunk-5"
    cluster.kill9("chunk-5")
    try? FileManager.default.removeItem(atPath: dir)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let mount = try ProcessRunner.run("/bin/mount", ["-t", "tmpfs", "-o", "size=80m", "tmpfs", dir])
    try XCTSkipIf(mount.status != 0, "cannot mount tmpfs here: \(mount.err)")
    defer { _ = try? ProcessRunner.run("/bin/umount", ["-l", dir]) }
    defer { cluster.kill9("chunk-5") }
    try cluster.restartChunk(5)
    let client = try cluster.client(timeout: .seconds(10))
    let port5 = "127.0.0.1:\(cluster.basePort + 5)"
    var servers: [ChunkServerStatus] = []
    // The restarted server registers anew (new disk, new id); its old registration stays "up"
    // until its heartbeats are missed, so wait for the one reporting the tmpfs's free space.
    try await waitFor("chunk-5 up again on its tmpfs, its old registration down") {
      servers = try await client.servers.all(refresh: true).filter { $0.isUp }
      return servers.count == 5 && servers.contains { $0.address == port5 && $0.freeBytes < 200 << 20 }
    }
    let full = try XCTUnwrap(servers.first { $0.address == port5 })
    // A block whose placement includes chunk-5.
    var seed: UInt64 = 1
    var bytes: [UInt8] = []
    var order: (placed: [UInt64], spares: [UInt64]) = ([], [])
    repeat {
      bytes = SharedClusterTestCase.randomBytes(200_000, seed: seed)
      order = BlockTransfer.placementOrder(BlockAddress.of(bytes), replicas: 3, among: servers)
      seed += 1
    } while !order.placed.contains(full.serverId)
    let deadPlaced = try XCTUnwrap(order.placed.first { $0 != full.serverId })
    let deadSpare = try XCTUnwrap(order.spares.first)
    let index = { (id: UInt64) -> Int in
      let address = servers.first { $0.serverId == id }?.address ?? ""
      return (Int(address.split(separator: ":").last ?? "") ?? 0) - cluster.basePort
    }
    // Refresh the client's list (chunk-5 still reports its free space), then at once fill the
    // tmpfs, kill the two and put: the list is younger than the directory's 3 s refresh age, so
    // the client still counts all five as writable, as during a fault before heartbeats tell.
    _ = try await client.servers.all(refresh: true)
    let fill = try ProcessRunner.run(
      "/bin/sh", ["-c", "fallocate -l $(df --output=avail -B1 \(dir) | tail -1) \(dir)/filler && df --output=avail -B1 \(dir) | tail -1"])
    XCTAssertEqual(fill.status, 0, fill.err)
    cluster.kill9("chunk-\(index(deadPlaced))")
    cluster.kill9("chunk-\(index(deadSpare))")
    let listed = try await client.servers.writableServers()
    XCTAssertEqual(listed.count, 5, "the client still lists all five: \(listed)")
    let address = BlockAddress.of(bytes)
    _ = try await client.blocks.upload([(address, bytes)], replicas: 3)
    let back = try await client.blocks.fetch(BlockRef(address: address, length: UInt32(bytes.count)), locations: nil)
    XCTAssertEqual(back, bytes)
    await client.close()
  }

  func waitFor(_ what: String, timeout: Double = 30, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if (try? await condition()) == true { return }
      try await Task.sleep(for: .milliseconds(200))
    }
    XCTFail("timed out waiting for \(what)")
    throw CairnError(.timeout, "timed out waiting for \(what)")
  }
}

final class CallLog: @unchecked Sendable {
  private let lock = NSLock()
  private var calls: [[UInt64]] = []
  func append(_ ids: [UInt64]) { lock.withLock { calls.append(ids) } }
  var all: [[UInt64]] { lock.withLock { calls } }
}
