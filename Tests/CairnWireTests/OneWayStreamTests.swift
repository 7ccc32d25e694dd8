import CairnCore
import CairnTransport
import CairnWire
import Foundation
import Logging
import NIOCore
import XCTest

/// One-way frames (`FrameFlags.oneWay`) over `FrameStream`, on real loopback sockets: pipelined,
/// in order, unanswered; a refused frame closes the stream with the server's reason.
final class OneWayStreamTests: XCTestCase {
  /// Collects one-way payloads (their first byte must be 1); answers requests with their payload.
  final class Collector: RequestHandler, @unchecked Sendable {
    let lock = NSLock()
    var received: [UInt32] = []

    func handle(_ request: IncomingRequest) async throws(CairnError) -> OutgoingReply {
      OutgoingReply(payload: request.payload)
    }

    func receiveOneWay(_ request: IncomingRequest) throws(CairnError) {
      var payload = request.payload
      guard request.kind == .raft, let tag = payload.readInteger(as: UInt8.self), tag == 1,
        let value = payload.readInteger(as: UInt32.self)
      else { throw CairnError(.protocolError, "not a counter frame") }
      lock.withLock { received.append(value) }
    }

    var values: [UInt32] { lock.withLock { received } }
  }

  /// A handler that takes no one-way frames (the protocol's default).
  struct RequestsOnly: RequestHandler {
    func handle(_ request: IncomingRequest) async throws(CairnError) -> OutgoingReply {
      OutgoingReply(payload: request.payload)
    }
  }

  func counter(_ value: UInt32) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt8(1))
    buffer.writeInteger(value)
    return buffer
  }

  func waitUntil(_ condition: () -> Bool, timeout: Duration = .seconds(10)) async {
    let deadline = ContinuousClock.now + timeout
    while !condition(), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
  }

  func testFramesArriveInOrderWithoutAnswers() async throws {
    let collector = Collector()
    let server = try await WireServer.start(
      at: ServerAddress(host: "127.0.0.1", port: 0), handler: collector, role: "test", logger: Logger(label: "test"))
    defer { Task { await server.close() } }
    let stream = try await FrameStream.connect(to: server.localAddress)
    defer { stream.close() }
    // Sent from several threads one after another (as a driver would), never waiting.
    for value in UInt32(0)..<5000 { stream.send(kind: .raft, payload: counter(value)) }
    await waitUntil { collector.values.count == 5000 }
    XCTAssertEqual(collector.values, Array(0..<5000), "every frame once, in order")
    XCTAssertFalse(stream.isClosed)
    XCTAssertNil(stream.closeReason)
    // The same server still answers ordinary requests.
    let connection = try await WireConnection.connect(to: server.localAddress)
    defer { connection.close() }
    let reply = try await connection.call(.meta, payload: ByteBuffer(bytes: [7]))
    XCTAssertEqual(Array(reply.payload.readableBytesView), [7])
  }

  func testARefusedFrameClosesTheStreamWithTheReason() async throws {
    let collector = Collector()
    let server = try await WireServer.start(
      at: ServerAddress(host: "127.0.0.1", port: 0), handler: collector, role: "test", logger: Logger(label: "test"))
    defer { Task { await server.close() } }
    let stream = try await FrameStream.connect(to: server.localAddress)
    stream.send(kind: .raft, payload: counter(1))
    stream.send(kind: .raft, payload: ByteBuffer(bytes: [9, 9]))
    await waitUntil { stream.isClosed }
    XCTAssertTrue(stream.isClosed)
    XCTAssertEqual(stream.closeReason?.code, .protocolError)
    XCTAssertTrue(stream.closeReason?.message.contains("not a counter frame") ?? false, "\(String(describing: stream.closeReason))")
    XCTAssertEqual(collector.values, [1])
    // A fresh stream works again.
    let again = try await FrameStream.connect(to: server.localAddress)
    defer { again.close() }
    again.send(kind: .raft, payload: counter(2))
    await waitUntil { collector.values.count == 2 }
    XCTAssertEqual(collector.values, [1, 2])

    // A server whose handler takes no one-way frames refuses them with a clear reason.
    let plain = try await WireServer.start(
      at: ServerAddress(host: "127.0.0.1", port: 0), handler: RequestsOnly(), role: "test", logger: Logger(label: "test"))
    defer { Task { await plain.close() } }
    let refused = try await FrameStream.connect(to: plain.localAddress)
    refused.send(kind: .meta, payload: counter(3))
    await waitUntil { refused.isClosed }
    XCTAssertEqual(refused.closeReason?.code, .protocolError)
    XCTAssertTrue(refused.closeReason?.message.contains("no one-way requests") ?? false, "\(String(describing: refused.closeReason))")
  }

  func testAOneWayFrameWithARequestIdOrABodyIsRefused() async throws {
    let collector = Collector()
    let server = try await WireServer.start(
      at: ServerAddress(host: "127.0.0.1", port: 0), handler: collector, role: "test", logger: Logger(label: "test"))
    defer { Task { await server.close() } }
    for (flags, id) in [(FrameFlags.oneWay, UInt64(5)), ([.oneWay, .hasBody], 0)] {
      var bytes = ByteBuffer()
      Frame(kind: .raft, flags: flags, requestId: id, payload: counter(1)).write(to: &bytes)
      var answer = ByteBuffer(bytes: ServerRobustnessTests.rawSend(Array(bytes.readableBytesView), to: server.localAddress))
      let frame = try Frame.read(from: &answer)
      XCTAssertEqual(frame?.flags, [.response, .error], "flags \(flags.rawValue), id \(id)")
      XCTAssertEqual(frame?.requestId, 0)
      XCTAssertEqual(frame.flatMap { try? WireCodec.decode(CairnError.self, from: $0.payload) }?.code, .protocolError)
    }
    XCTAssertEqual(collector.values, [], "a refused frame is not handed on")
  }
}
