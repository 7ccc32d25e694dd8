import CairnCore
import NIOCore
import XCTest

@testable import CairnWire

final class PayloadCodecTests: XCTestCase {
  static func commit() throws -> CommitRequest {
    CommitRequest(
      volume: try VolumeName("v"), baseVersion: 4,
      changes: [.put(try VolumePath("/a"), .file(Manifest(), Attributes(mode: 0o100644, mtimeNanos: 3)))],
      mode: .merge, idempotencyKey: "k", author: "me", message: "")
  }

  func testCommitTravelsCompactAndOtherRequestsGeneric() throws {
    let request = MetaRequest.commit(try Self.commit())
    let payload = request.payload
    XCTAssertEqual(payload.readableBytesView.first, WireFormat.metaMessage)
    let (decoded, compact) = try MetaRequest.decode(payload: payload)
    XCTAssertEqual(decoded, request)
    XCTAssertTrue(compact)
    // A client of an earlier build sends the generic encoding; it is read and answered generically.
    let (old, oldCompact) = try MetaRequest.decode(payload: WireCodec.encode(request))
    XCTAssertEqual(old, request)
    XCTAssertFalse(oldCompact)
    let other = MetaRequest.history(try VolumeName("v"), limit: 3)
    XCTAssertEqual(other.payload, WireCodec.encode(other))
    XCTAssertEqual(try MetaRequest.decode(payload: other.payload).request, other)

    let result = MetaResponse.commit(CommitResult(version: 5, wasDuplicate: false))
    XCTAssertEqual(result.payload(compact: true).readableBytesView.first, WireFormat.metaMessage)
    XCTAssertEqual(try MetaResponse(payload: result.payload(compact: true)), result)
    XCTAssertEqual(result.payload(compact: false), WireCodec.encode(result))
    XCTAssertEqual(try MetaResponse(payload: result.payload(compact: false)), result)
    XCTAssertEqual(MetaResponse.ok.payload(compact: true), WireCodec.encode(MetaResponse.ok))
  }

  func testHostileCompactPayloadsAreRefused() throws {
    let bytes = Array(MetaRequest.commit(try Self.commit()).payload.readableBytesView)
    let response = Array(MetaResponse.commit(CommitResult(version: 5, wasDuplicate: true)).payload(compact: true).readableBytesView)
    for n in 1..<bytes.count {
      XCTAssertThrowsError(try MetaRequest.decode(payload: ByteBuffer(bytes: bytes.prefix(n))))
    }
    for n in 1..<response.count {
      XCTAssertThrowsError(try MetaResponse(payload: ByteBuffer(bytes: response.prefix(n))))
    }
    for i in 1..<bytes.count {
      for value: UInt8 in [0, 1, 0x7F, 0x80, 0xFF] {
        var corrupted = bytes
        corrupted[i] = value
        _ = try? MetaRequest.decode(payload: ByteBuffer(bytes: corrupted))
      }
    }
    var rng = SeededRandom(seed: 11)
    for _ in 0..<300 {
      let garbage = [WireFormat.metaMessage] + (0..<Int(rng.next() % 48)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
      _ = try? MetaRequest.decode(payload: ByteBuffer(bytes: garbage))
      _ = try? MetaResponse(payload: ByteBuffer(bytes: garbage))
    }
    XCTAssertThrowsError(try MetaRequest.decode(payload: ByteBuffer(bytes: bytes + [0])))
    XCTAssertThrowsError(try MetaRequest.decode(payload: ByteBuffer(bytes: [WireFormat.metaMessage, 2]))) { error in
      XCTAssertTrue("\(error)".contains("unknown compact MetaRequest tag 2"), "\(error)")
    }
  }

  func testRaftMessageBatchesTravelBare() throws {
    let batch: [UInt8] = [WireFormat.raftMessages, 0]
    let payload = RaftRequest.messages(batch).payload
    XCTAssertEqual(Array(payload.readableBytesView), batch)
    XCTAssertEqual(try RaftRequest(payload: payload), .messages(batch))
    // An older member's enveloped batch, and every other request, use the generic encoding.
    XCTAssertEqual(try RaftRequest(payload: WireCodec.encode(RaftRequest.messages([1, 2]))), .messages([1, 2]))
    XCTAssertEqual(RaftRequest.status.payload, WireCodec.encode(RaftRequest.status))
    XCTAssertEqual(try RaftRequest(payload: RaftRequest.removeMember(id: 3).payload), .removeMember(id: 3))
    XCTAssertThrowsError(try RaftRequest(payload: ByteBuffer(bytes: [0x40, 1, 2])))
  }
}
