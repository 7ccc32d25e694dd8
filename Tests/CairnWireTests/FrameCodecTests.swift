import CairnCore
import CairnWire
import NIOCore
import XCTest

final class FrameCodecTests: XCTestCase {
  func frame(_ payload: [UInt8] = Array("hello".utf8), flags: FrameFlags = []) -> ByteBuffer {
    var b = ByteBuffer()
    Frame(kind: .meta, flags: flags, requestId: 42, payload: ByteBuffer(bytes: payload)).write(to: &b)
    return b
  }

  func testRoundTrip() throws {
    var b = frame()
    let f = try XCTUnwrap(try Frame.read(from: &b))
    XCTAssertEqual(f.kind, .meta)
    XCTAssertEqual(f.requestId, 42)
    XCTAssertEqual(Array(f.payload.readableBytesView), Array("hello".utf8))
    XCTAssertEqual(b.readableBytes, 0)
  }

  func testEveryTruncationWaitsForMoreBytes() throws {
    let full = frame()
    for n in 0..<full.readableBytes {
      var partial = full.getSlice(at: 0, length: n)!
      XCTAssertNil(try Frame.read(from: &partial), "prefix of \(n) bytes")
      XCTAssertEqual(partial.readableBytes, n, "nothing consumed")
    }
  }

  func testBadMagicIsRefused() {
    var b = ByteBuffer(bytes: Array("GET / HTTP/1.1\r\n\r\n".utf8) + [UInt8](repeating: 0, count: 24))
    XCTAssertThrowsError(try Frame.read(from: &b)) { XCTAssertEqual($0 as? FrameError, .badMagic(0x4745_5420)) }
  }

  func testWrongProtocolVersionIsRefused() {
    var b = frame()
    b.setInteger(UInt8(2), at: 4)
    XCTAssertThrowsError(try Frame.read(from: &b)) { XCTAssertEqual($0 as? FrameError, .unsupportedVersion(2)) }
  }

  func testUnknownKindAndFlagsAreRefused() {
    var b = frame()
    b.setInteger(UInt8(99), at: 5)
    XCTAssertThrowsError(try Frame.read(from: &b)) { XCTAssertEqual($0 as? FrameError, .unknownKind(99)) }
    var c = frame()
    c.setInteger(UInt16(0x8000), at: 6)
    XCTAssertThrowsError(try Frame.read(from: &c)) { XCTAssertEqual($0 as? FrameError, .unknownFlags(0x8000)) }
  }

  func testOversizedLengthIsRefusedBeforeThePayloadArrives() {
    var b = frame()
    b.setInteger(UInt32(Limits.maxFramePayloadBytes + 1), at: 16)
    XCTAssertThrowsError(try Frame.read(from: &b)) {
      XCTAssertEqual($0 as? FrameError, .tooLarge(UInt32(Limits.maxFramePayloadBytes + 1)))
    }
  }

  func testChecksumMismatchIsRefused() {
    var b = frame()
    b.setInteger(UInt8(ascii: "j"), at: 24)
    XCTAssertThrowsError(try Frame.read(from: &b)) {
      guard case .checksumMismatch = $0 as? FrameError else { return XCTFail("\($0)") }
    }
  }

  func testRandomGarbageNeverCrashesTheDecoder() {
    var rng = SeededRandom(seed: 1234)
    for _ in 0..<20_000 {
      var bytes = Array(frame().readableBytesView)
      if Bool.random(using: &rng) {
        bytes = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      } else {
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
          bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        }
      }
      var b = ByteBuffer(bytes: bytes)
      _ = try? Frame.read(from: &b)
    }
  }

  func testEveryMessageRoundTripsAndGarbagePayloadsAreCleanErrors() throws {
    let name = try VolumeName("v")
    let messages: [MetaRequest] = [
      .createVolume(name, VolumeSettings()), .listVolumes, .lookup(name, .root, version: 3),
      .list(name, .root, version: nil, after: "x", limit: 5),
      .commit(
        CommitRequest(
          volume: name, baseVersion: 1, changes: [.delete(.root, recursive: true)], mode: .strict, idempotencyKey: "k",
          author: "a", message: "m")),
      .findBlocks([BlockAddress.of([1])], quorum: 2), .clusterStatus,
    ]
    var rng = SeededRandom(seed: 77)
    for m in messages {
      let payload = WireCodec.encode(m)
      XCTAssertEqual(try WireCodec.decode(MetaRequest.self, from: payload), m)
      var bytes = Array(payload.readableBytesView)
      for _ in 0..<200 {
        bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
        XCTAssertNoThrow(try? WireCodec.decode(MetaRequest.self, from: ByteBuffer(bytes: bytes)))
      }
    }
  }
}
