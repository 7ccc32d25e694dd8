import CairnCore
import CairnTransport
import CairnWire
import Logging
import NIOCore
import XCTest

/// A server that gets malformed input closes only that connection and keeps serving others.
final class ServerRobustnessTests: XCTestCase {
  struct Echo: RequestHandler {
    func handle(_ request: IncomingRequest) async throws(CairnError) -> OutgoingReply {
      if let body = request.body {
        let bytes = try await body.collect(limit: 64 << 20)
        return OutgoingReply(payload: request.payload, body: bytes)
      }
      return OutgoingReply(payload: request.payload)
    }
  }

  func startServer() async throws -> WireServer {
    try await WireServer.start(
      at: ServerAddress(host: "127.0.0.1", port: 0), handler: Echo(), role: "test", logger: Logger(label: "test"))
  }

  func rawSend(_ bytes: [UInt8], to address: ServerAddress) -> [UInt8] { Self.rawSend(bytes, to: address) }

  /// Sends raw bytes on a fresh connection and returns everything read back until it closes (2 s).
  static func rawSend(_ bytes: [UInt8], to address: ServerAddress) -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(address.port).bigEndian)
    addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    let connected = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return [] }
    var tv = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = recv(fd, &buffer, buffer.count, 0)
      if n <= 0 { break }
      out += buffer[..<n]
    }
    return out
  }

  func testMalformedFramesGetAnErrorAndTheServerKeepsServing() async throws {
    let server = try await startServer()
    defer { Task { await server.close() } }
    var good = ByteBuffer()
    Frame(kind: .meta, flags: [], requestId: 1, payload: ByteBuffer(bytes: [1, 2, 3])).write(to: &good)
    var badVersion = good
    badVersion.setInteger(UInt8(9), at: 4)
    var badCrc = good
    badCrc.setInteger(UInt8(0xEE), at: 24)
    var oversized = good
    oversized.setInteger(UInt32.max, at: 16)
    var unknownKind = good
    unknownKind.setInteger(UInt8(200), at: 5)
    let inputs: [(String, [UInt8])] = [
      ("garbage", Array("not a frame at all, just text\n".utf8)),
      ("wrong version", Array(badVersion.readableBytesView)),
      ("wrong checksum", Array(badCrc.readableBytesView)),
      ("oversized", Array(oversized.readableBytesView)),
      ("unknown kind", Array(unknownKind.readableBytesView)),
      ("truncated", Array(good.readableBytesView.prefix(10))),
    ]
    for (what, bytes) in inputs {
      let reply = rawSend(bytes, to: server.localAddress)
      if what != "truncated" {
        var buffer = ByteBuffer(bytes: reply)
        let frame = try XCTUnwrap(try Frame.read(from: &buffer), "\(what): expected an error frame")
        XCTAssertTrue(frame.flags.contains(.error), what)
        let error = try WireCodec.decode(CairnError.self, from: frame.payload)
        XCTAssertEqual(error.code, .protocolError, what)
      }
      // A well-behaved client still gets answers.
      let client = try await WireConnection.connect(to: server.localAddress)
      let answer = try await client.call(.meta, payload: ByteBuffer(bytes: [9, 9]))
      XCTAssertEqual(Array(answer.payload.readableBytesView), [9, 9], what)
      client.close()
    }
  }

  func testMultiplexedRequestsWithStreamedBodies() async throws {
    let server = try await startServer()
    defer { Task { await server.close() } }
    let client = try await WireConnection.connect(to: server.localAddress)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for i in 0..<32 {
        group.addTask {
          let body = [UInt8](repeating: UInt8(i), count: (i % 4) * (Limits.bodyChunkBytes + 17))
          let reply = try await client.call(.chunk, payload: ByteBuffer(bytes: [UInt8(i)]), body: body)
          XCTAssertEqual(Array(reply.payload.readableBytesView), [UInt8(i)])
          XCTAssertEqual(reply.body ?? [], body)
        }
      }
      try await group.waitForAll()
    }
    client.close()
  }
}
