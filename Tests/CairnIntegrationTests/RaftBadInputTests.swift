import CairnCore
import CairnTestSupport
import CairnTransport
import CairnWire
import Foundation
import NIOCore
import XCTest

/// Bad input to Raft metadata servers on real processes: clear errors for bad `--peers`, and
/// garbage `.raft` frames answered with an error while the member keeps serving.
final class RaftBadInputTests: XCTestCase {
  func serve(_ arguments: [String]) throws -> ProcessResult {
    try ProcessRunner.run(ClusterFixture.binary, ["meta", "serve", "--data-dir", NSTemporaryDirectory() + "cairn-bad-\(UUID())"] + arguments)
  }

  func testBadPeersAreRefusedWithClearErrors() throws {
    let cases: [([String], String)] = [
      (["--peers", "1=127.0.0.1:1,2=127.0.0.1:2"], "--id is required"),
      (["--id", "3", "--peers", "1=127.0.0.1:1,2=127.0.0.1:2"], "--id 3 is not among the --peers"),
      (["--id", "1", "--peers", "1=127.0.0.1:1,1=127.0.0.1:2"], "lists member id 1 twice"),
      (["--id", "1", "--peers", "1=127.0.0.1:1,2=nonsense"], "HOST:PORT"),
      (["--id", "1", "--peers", "1=127.0.0.1:1", "--election-timeout-ms", "5"], "election timeout"),
      (["--id", "1"], "--id needs --peers"),
    ]
    for (arguments, message) in cases {
      let r = try serve(["--listen", "127.0.0.1:0"] + arguments)
      XCTAssertEqual(r.status, 64, "\(arguments): \(r.err)")
      XCTAssertTrue(r.err.contains(message), "\(arguments) should say \(message): \(r.err)")
    }
  }

  func testGarbageRaftFramesAreRefusedAndTheMemberKeepsServing() async throws {
    let group = try RaftGroup(size: 3, electionTimeoutMs: 500)
    defer {
      group.stop()
      group.removeDirectory()
    }
    let leader = try await group.waitForLeader()
    let connection = try await WireConnection.connect(to: group.addresses[leader - 1], timeout: .seconds(2))
    defer { connection.close() }
    func expectError(_ payload: ByteBuffer, _ code: CairnError.Code, _ what: String) async {
      do {
        _ = try await connection.call(.raft, payload: payload, timeout: .seconds(5))
        XCTFail("\(what) was accepted")
      } catch {
        XCTAssertEqual(error.code, code, "\(what): \(error)")
      }
    }
    await expectError(ByteBuffer(bytes: [0xFF, 0x00, 0x13, 0x37]), .protocolError, "random bytes")
    await expectError(WireCodec.encode(RaftRequest.messages([1, 2, 3, 4, 5])), .protocolError, "garbage messages")
    await expectError(
      WireCodec.encode(RaftRequest.localRead(.deleteVolume(try VolumeName("x")))), .invalidArgument, "a write as a local read")
    await expectError(WireCodec.encode(RaftRequest.addMember(id: 0, address: "127.0.0.1:1")), .invalidArgument, "member 0")
    await expectError(WireCodec.encode(RaftRequest.removeMember(id: 42)), .notFound, "removing a stranger")
    // One-way streams (how members send each other messages) refuse garbage too: the stream's
    // connection closes with the reason, and nothing reaches the Raft loop.
    func expectStreamRefused(_ address: ServerAddress, _ kind: MessageKind, _ payload: ByteBuffer, _ what: String) async throws {
      let stream = try await FrameStream.connect(to: address, timeout: .seconds(2))
      defer { stream.close() }
      stream.send(kind: kind, payload: payload)
      let deadline = ContinuousClock.now + .seconds(5)
      while !stream.isClosed, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
      XCTAssertEqual(stream.closeReason?.code, .protocolError, "\(what): \(String(describing: stream.closeReason))")
    }
    let address = group.addresses[leader - 1]
    try await expectStreamRefused(address, .raft, ByteBuffer(bytes: [0xFF, 0x00, 0x13, 0x37]), "one-way random bytes")
    try await expectStreamRefused(address, .raft, WireCodec.encode(RaftRequest.messages([1, 2, 3, 4, 5])), "one-way garbage messages")
    try await expectStreamRefused(address, .raft, WireCodec.encode(RaftRequest.status), "a one-way status request")
    try await expectStreamRefused(address, .meta, ByteBuffer(bytes: [1]), "a one-way metadata request")
    // Still the leader of a working group.
    guard let status = await group.status(leader) else { return XCTFail("member stopped answering") }
    XCTAssertEqual(status.role, "leader")
    XCTAssertEqual(status.members.count, 3)

    // A single server (no --peers) refuses Raft requests with a clear error.
    let single = try RaftGroup.single()
    defer { single.stop() }
    do {
      _ = try await single.call(.status)
      XCTFail("a single server answered a Raft request")
    } catch {
      XCTAssertEqual(error.code, .protocolError)
      XCTAssertTrue(error.message.contains("without Raft"), error.message)
    }
    try await expectStreamRefused(single.address, .raft, WireCodec.encode(RaftRequest.messages([])), "a stream to a single server")
  }
}

/// Who answers what in a Raft group, on real processes.
final class RaftReadRoutingTests: XCTestCase {
  func meta(_ group: RaftGroup, _ k: Int, _ request: MetaRequest) async throws(CairnError) -> MetaResponse {
    let connection = try await group.pool.connection(to: group.addresses[k - 1])
    let reply = try await connection.call(.meta, payload: WireCodec.encode(request), timeout: .seconds(5))
    return try WireCodec.decode(MetaResponse.self, from: reply.payload)
  }

  func testFollowersRedirectWritesAndHeadReadsButServeAppliedVersions() async throws {
    let group = try RaftGroup(size: 3, electionTimeoutMs: 500)
    defer {
      group.stop()
      group.removeDirectory()
    }
    let leader = try await group.waitForLeader()
    let follower = (1...3).first { $0 != leader }!
    let volume = try VolumeName("routing")
    guard case .volume = try await meta(group, leader, .createVolume(volume, VolumeSettings(replicationFactor: 1))) else {
      return XCTFail("create failed")
    }
    try await group.waitConverged()
    // Writes and head reads on a follower: .notLeader naming the leader (through this member's link).
    for request in [MetaRequest.createVolume(try VolumeName("other"), VolumeSettings()), .getVolume(volume), .listVolumes] {
      do {
        _ = try await meta(group, follower, request)
        XCTFail("a follower answered \(request)")
      } catch {
        XCTAssertEqual(error.code, .notLeader, "\(request): \(error)")
        XCTAssertEqual(error.details.count, 1, "the leader's address is the first detail: \(error)")
        XCTAssertNoThrow(try ServerAddress(parsing: error.details.first ?? ""))
      }
    }
    // A version the follower has applied is served there; a newer one is redirected.
    guard case .listing(let version, _) = try await meta(group, follower, .list(volume, .root, version: 1, after: nil, limit: 10))
    else { return XCTFail("no listing") }
    XCTAssertEqual(version, 1)
    do {
      _ = try await meta(group, follower, .list(volume, .root, version: 99, after: nil, limit: 10))
      XCTFail("a follower answered a version it does not have")
    } catch {
      XCTAssertEqual(error.code, .notLeader)
    }
    // The leader answers head reads (after its ReadIndex barrier).
    guard case .volume(let info) = try await meta(group, leader, .getVolume(volume)) else { return XCTFail("no volume") }
    XCTAssertEqual(info.headVersion, 1)
  }
}
