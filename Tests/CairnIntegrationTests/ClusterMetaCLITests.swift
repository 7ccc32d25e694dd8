import CairnTestSupport
import Foundation
import XCTest

/// `cairn cluster status / transfer-leader / add-meta / remove-meta` and `dev up` topologies,
/// on real processes through the CLI.
final class ClusterMetaCLITests: XCTestCase {
  struct Status: Decodable {
    struct Meta: Decodable {
      var id: UInt64?
      var address: String
      var role: String
      var term: UInt64?
      var commitIndex: UInt64?
      var appliedIndex: UInt64?
      var lag: UInt64?
    }
    var raft: Bool
    var leaderId: UInt64?
    var metaServers: [Meta]
  }

  func status(_ cluster: ClusterFixture) throws -> Status {
    let r = try cluster.cairn(["cluster", "status", "--json"])
    XCTAssertEqual(r.status, 0, r.err)
    return try JSONDecoder().decode(Status.self, from: Data(r.out.utf8))
  }

  func testThreeMemberDevClusterStatusTransferAddAndRemove() throws {
    let cluster = try ClusterFixture(chunkServers: 1, metaServers: 3, electionTimeoutMs: 500)
    defer { cluster.stop() }
    let config = try String(contentsOfFile: cluster.directory + "/client.toml", encoding: .utf8)
    XCTAssertTrue(config.contains(cluster.metaAddresses), "client.toml lists every metadata server: \(config)")
    var s = try status(cluster)
    XCTAssertTrue(s.raft)
    XCTAssertEqual(s.metaServers.map(\.id), [1, 2, 3])
    XCTAssertEqual(s.metaServers.filter { $0.role == "leader" }.count, 1)
    let leader = try XCTUnwrap(s.leaderId)

    // Hand leadership to another member.
    let target = leader == 1 ? 2 : 1
    let t = try cluster.cairn(["cluster", "transfer-leader", "\(target)"])
    XCTAssertEqual(t.status, 0, t.err)
    try cluster.waitUntil("member \(target) leads") { try self.status(cluster).leaderId == UInt64(target) }

    // Add a fourth member (started with --join), then remove it.
    let port = ClusterFixture.freeBasePort(count: 1)
    let address = "127.0.0.1:\(port)"
    let peers = (1...3).map { "\($0)=\(cluster.metaAddress(of: $0))" }.joined(separator: ",") + ",4=\(address)"
    let joining = Process()
    joining.executableURL = URL(fileURLWithPath: ClusterFixture.binary)
    joining.arguments = [
      "meta", "serve", "--id", "4", "--peers", peers, "--join", "--data-dir", cluster.directory + "/meta-4", "--listen",
      address, "--election-timeout-ms", "500",
    ]
    joining.standardOutput = FileHandle.nullDevice
    joining.standardError = FileHandle.nullDevice
    try joining.run()
    defer {
      kill(joining.processIdentifier, SIGKILL)
      joining.waitUntilExit()
    }
    try cluster.waitUntil("the new server listens") { ClusterFixture.isListening(port) }
    let add = try cluster.cairn(["cluster", "add-meta", "4=\(address)"])
    XCTAssertEqual(add.status, 0, add.err)
    XCTAssertEqual(try cluster.cairn(["volume", "create", "after-add"]).status, 0)
    try cluster.waitUntil("four members caught up") {
      let s = try self.status(cluster)
      return s.metaServers.count == 4 && s.metaServers.allSatisfy { $0.lag == 0 && $0.role != "unreachable" }
    }
    XCTAssertEqual(try cluster.cairn(["cluster", "add-meta", "4=\(address)"]).status, 8, "adding a member twice")
    let remove = try cluster.cairn(["cluster", "remove-meta", "4"])
    XCTAssertEqual(remove.status, 0, remove.err)
    s = try status(cluster)
    XCTAssertEqual(s.metaServers.compactMap(\.id).sorted(), [1, 2, 3])
    XCTAssertEqual(try cluster.cairn(["volume", "create", "after-remove"]).status, 0)
    // Bad input is named.
    let bad = try cluster.cairn(["cluster", "add-meta", "four"])
    XCTAssertEqual(bad.status, 64)
    XCTAssertTrue(bad.err.contains("ID=HOST:PORT"), bad.err)
    XCTAssertEqual(try cluster.cairn(["cluster", "remove-meta", "9"]).status, 3)
  }

  func testSingleServerTopology() throws {
    let cluster = try ClusterFixture(chunkServers: 1, metaServers: 1)
    defer { cluster.stop() }
    XCTAssertNotNil(cluster.pids()["meta"])
    let s = try status(cluster)
    XCTAssertFalse(s.raft)
    XCTAssertTrue(s.metaServers.isEmpty)
    let text = try cluster.cairn(["cluster", "status"])
    XCTAssertTrue(text.out.contains("single server"), text.out)
  }
}
