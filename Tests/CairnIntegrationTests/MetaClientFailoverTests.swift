import CairnClient
import CairnCore
import CairnTransport
import CairnWire
import Foundation
import Logging
import NIOCore
import XCTest

/// `MetaClient` while a metadata leader is stopped and the others elect a new one, against real
/// wire servers on loopback: one accepts requests and never answers (SIGSTOP), two answer
/// `.notLeader` (no leader known) until the election ends, then one answers.
final class MetaClientFailoverTests: XCTestCase {
  final class Server: RequestHandler, @unchecked Sendable {
    let answersAfter: ContinuousClock.Instant?
    init(answersAfter: ContinuousClock.Instant?) { self.answersAfter = answersAfter }

    func handle(_ request: IncomingRequest) async throws(CairnError) -> OutgoingReply {
      guard let answersAfter else {
        try? await Task.sleep(for: .seconds(30))  // stopped: the request is never answered
        throw CairnError(.unavailable, "stopped")
      }
      guard ContinuousClock.now >= answersAfter else {
        throw CairnError(.notLeader, "metadata server is not the leader and knows of none (election in progress)")
      }
      return OutgoingReply(payload: WireCodec.encode(MetaResponse.volumes([])))
    }
  }

  /// Before, every retry round tried the stopped server again (last, as a suspect) and waited
  /// out a whole 1 s attempt on it, so the call succeeded about 1 s after the election ended.
  func testAStoppedServerIsNotWaitedOnAgainWhileTheOthersAnswer() async throws {
    let logger = Logger(label: "test")
    let electionEnds = ContinuousClock.now + .milliseconds(1300)
    var servers: [WireServer] = []
    for answersAfter in [nil, electionEnds, electionEnds] {
      servers.append(
        try await WireServer.start(
          at: ServerAddress(host: "127.0.0.1", port: 0), handler: Server(answersAfter: answersAfter), role: "meta",
          logger: logger))
    }
    let pool = ConnectionPool()
    let client = MetaClient(addresses: servers.map(\.localAddress), pool: pool, timeout: .seconds(3))
    let start = ContinuousClock.now
    let response = try await client.call(.listVolumes)
    let elapsed = ContinuousClock.now - start
    guard case .volumes = response else { return XCTFail("unexpected \(response)") }
    XCTAssertLessThan(elapsed, .milliseconds(1900), "answered \(elapsed) after the call; the election ended at 1.3 s")
    await pool.closeAll()
    for server in servers { await server.close() }
  }
}
