import CairnClient
import CairnCore
import CairnTestSupport
import Foundation
import XCTest

/// Found by the chaos harness (may-2026-volumes-outage on ha): with every metadata server
/// stalled (SIGSTOP), block reads waited for the chunk server list's refresh to time out, so
/// running readers stopped for ~7 s. The list is now refreshed in the background.
final class StalledMetadataReadTests: XCTestCase {
  func testBlockReadsDoNotWaitForAStalledMetadataService() async throws {
    let cluster = try ClusterFixture(chunkServers: 3, metaServers: 1)
    defer { cluster.stop() }
    let client = try cluster.client(timeout: .seconds(10))
    let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let address = BlockAddress.of(bytes)
    _ = try await client.blocks.upload([(address, bytes)], replicas: 1)
    let ref = BlockRef(address: address, length: UInt32(bytes.count))
    let first = try await client.blocks.fetch(ref, locations: nil)
    XCTAssertEqual(first, bytes)
    cluster.signal("meta", SIGSTOP)
    defer { cluster.signal("meta", SIGCONT) }
    // Past the directory's 3 s freshness: the next read finds the list stale.
    try await Task.sleep(for: .seconds(3.5))
    let start = ContinuousClock.now
    let second = try await client.blocks.fetch(ref, locations: nil)
    XCTAssertEqual(second, bytes)
    XCTAssertLessThan(ContinuousClock.now - start, .seconds(2), "a block read waited for the stalled metadata service")
    cluster.signal("meta", SIGCONT)
    await client.close()
  }
}
