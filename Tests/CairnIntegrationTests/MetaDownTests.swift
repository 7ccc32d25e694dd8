import CairnClient
import CairnCore
import CairnTestSupport
import CairnTransport
import Foundation
import XCTest

/// A client whose metadata servers all died gives up after `MetaClient.downAfter`, not after its
/// whole request budget — also when it still holds pooled connections to all of them (a broken
/// pooled connection must not count as "a server answered", which would mean "an election is
/// going on, keep retrying").
final class MetaDownTests: XCTestCase {
  func testDeadServerWithPooledConnectionFailsFast() async throws {
    let cluster = try ClusterFixture(chunkServers: 1, metaServers: 3)
    defer { cluster.stop() }
    let addresses = try cluster.metaAddresses.split(separator: ",").map { try ServerAddress(parsing: String($0)) }
    let client = CairnClient(metaAddresses: addresses, timeout: .seconds(30))
    _ = try await client.volumes()  // opens (and pools) connections
    _ = try await client.clusterStatus()
    for name in cluster.metaNames { cluster.kill9(name) }
    let start = ContinuousClock.now
    do {
      _ = try await client.volumes()
      XCTFail("a call to a dead metadata server succeeded")
    } catch {
      XCTAssertEqual(error.code, .unavailable, "\(error)")
    }
    let elapsed = ContinuousClock.now - start
    XCTAssertLessThan(elapsed, .seconds(15), "gave up after \(elapsed), the budget was 30 s")
    await client.close()
  }
}
