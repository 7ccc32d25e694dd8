import CairnCore
import CairnTransport
import CairnWire
import Foundation
import Logging
import NIOCore
import XCTest

/// `RequestHandler.handleInline`: requests a handler takes inline are answered through its
/// callback (successes and errors, from another thread, many in flight on one connection);
/// those it declines go to `handle`; `WireConnection.start` delivers replies to a completion.
final class InlineRequestTests: XCTestCase {
  /// Takes payloads starting with 1 inline (answered later from a queue), 2 inline with an error;
  /// leaves the rest to `handle`, which answers with 0xAA before the payload.
  struct Split: RequestHandler {
    func handle(_ request: IncomingRequest) async throws(CairnError) -> OutgoingReply {
      OutgoingReply(payload: ByteBuffer(bytes: [0xAA] + Array(request.payload.readableBytesView)))
    }

    func handleInline(
      _ request: IncomingRequest, reply: @escaping @Sendable (Result<OutgoingReply, CairnError>) -> Void
    ) -> Bool {
      let bytes = Array(request.payload.readableBytesView)
      switch bytes.first {
      case 1:
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int.random(in: 0...5))) {
          reply(.success(OutgoingReply(payload: ByteBuffer(bytes: bytes))))
        }
        return true
      case 2:
        reply(.failure(CairnError(.conflict, "inline refusal")))
        return true
      default:
        return false
      }
    }
  }

  func testInlineAndTaskRequestsShareAConnection() async throws {
    let server = try await WireServer.start(
      at: ServerAddress(host: "127.0.0.1", port: 0), handler: Split(), role: "test", logger: Logger(label: "test"))
    defer { Task { await server.close() } }
    let connection = try await WireConnection.connect(to: server.localAddress)
    defer { connection.close() }
    try await withThrowingTaskGroup(of: Void.self) { group in
      for i in 0..<200 {
        group.addTask {
          let value = UInt8(i % 250)
          if i % 2 == 0 {
            let reply = try await connection.call(.meta, payload: ByteBuffer(bytes: [1, value]))
            XCTAssertEqual(Array(reply.payload.readableBytesView), [1, value])
          } else {
            let reply = try await connection.call(.meta, payload: ByteBuffer(bytes: [3, value]))
            XCTAssertEqual(Array(reply.payload.readableBytesView), [0xAA, 3, value])
          }
        }
      }
      try await group.waitForAll()
    }
    do {
      _ = try await connection.call(.meta, payload: ByteBuffer(bytes: [2]))
      XCTFail("an inline error must reach the caller")
    } catch {
      XCTAssertEqual(error.code, .conflict)
      XCTAssertEqual(error.message, "inline refusal")
    }
  }

  func testStartCallsItsCompletion() async throws {
    let server = try await WireServer.start(
      at: ServerAddress(host: "127.0.0.1", port: 0), handler: Split(), role: "test", logger: Logger(label: "test"))
    defer { Task { await server.close() } }
    let connection = try await WireConnection.connect(to: server.localAddress)
    let reply = await withCheckedContinuation { (c: CheckedContinuation<Result<WireReply, CairnError>, Never>) in
      connection.start(.meta, payload: ByteBuffer(bytes: [1, 9]), timeout: .seconds(5)) { c.resume(returning: $0) }
    }
    XCTAssertEqual(try reply.get().payload.readableBytesView.map { $0 }, [1, 9])
    let refused = await withCheckedContinuation { (c: CheckedContinuation<Result<WireReply, CairnError>, Never>) in
      connection.start(.meta, payload: ByteBuffer(bytes: [2]), timeout: .seconds(5)) { c.resume(returning: $0) }
    }
    guard case .failure(let error) = refused else { return XCTFail("expected an error") }
    XCTAssertEqual(error.code, .conflict)
    connection.close()
    let closed = await withCheckedContinuation { (c: CheckedContinuation<Result<WireReply, CairnError>, Never>) in
      connection.start(.meta, payload: ByteBuffer(bytes: [1]), timeout: .seconds(5)) { c.resume(returning: $0) }
    }
    guard case .failure(let closedError) = closed else { return XCTFail("a closed connection cannot answer") }
    XCTAssertEqual(closedError.code, .unavailable)
  }
}
