import CairnCore
import XCTest

final class BinaryCodingTests: XCTestCase {
  enum Sample: Codable, Equatable {
    case present(Entry)
    case tombstone
    case pair(a: Int64, b: String?)
  }

  struct Record: Codable, Equatable {
    var name: String
    var optional: UInt64?
    var missing: String?
    var list: [BlockRef]
    var samples: [Sample]
    var nested: [[UInt8]]
    var flag: Bool
    var negative: Int64
    /// Regression: an empty non-byte array was written as an empty byte string.
    var empty: [BlockRef]
  }

  func sampleRecord() throws -> Record {
    let address = BlockAddress.of(Array("x".utf8))
    let entry = Entry(
      kind: .file, inode: 7, attributes: Attributes(mode: 0o100644, uid: 1, gid: 2, mtimeNanos: -5),
      manifest: Manifest(blocks: [BlockRef(address: address, length: 1), BlockRef(address: nil, length: 9)]))
    return Record(
      name: "héllo", optional: 42, missing: nil, list: entry.manifest.blocks,
      samples: [.present(entry), .tombstone, .pair(a: -1, b: nil), .pair(a: Int64.min, b: "z")],
      nested: [[1, 2], []], flag: true, negative: Int64.min, empty: [])
  }

  func testRoundTripOfNestedEnumsOptionalsAndLists() throws {
    let record = try sampleRecord()
    let bytes = try BinaryEncoder().encode(record)
    XCTAssertEqual(try BinaryDecoder().decode(Record.self, from: bytes), record)
  }

  func testEveryTruncationIsACleanError() throws {
    let bytes = try BinaryEncoder().encode(try sampleRecord())
    for n in 0..<bytes.count {
      XCTAssertThrowsError(try BinaryDecoder().decodeOrThrow(Record.self, from: Array(bytes.prefix(n))))
    }
  }

  func testTrailingBytesAreRejected() throws {
    let bytes = try BinaryEncoder().encode(try sampleRecord()) + [0]
    XCTAssertThrowsError(try BinaryDecoder().decodeOrThrow(Record.self, from: bytes))
  }

  func testRandomGarbageNeverCrashes() throws {
    var rng = SeededRandom(seed: 99)
    let valid = try BinaryEncoder().encode(try sampleRecord())
    for _ in 0..<3000 {
      var bytes = valid
      for _ in 0..<Int.random(in: 1...4, using: &rng) {
        bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
      }
      _ = try? BinaryDecoder().decodeOrThrow(Record.self, from: bytes)
      let garbage = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      _ = try? BinaryDecoder().decodeOrThrow(Record.self, from: garbage)
    }
  }

  func testHugeListCountIsRejectedWithoutAllocating() throws {
    // A list header claiming 2^31 items followed by nothing.
    let bytes: [UInt8] = [0xFF, 0xFF, 0xFF, 0x7F]
    XCTAssertThrowsError(try BinaryDecoder().decodeOrThrow([UInt32].self, from: bytes))
  }

  func testInvalidVolumeNamesAndPathsAreRejected() {
    for bad in ["", "Upper", "-dash", "a b", String(repeating: "a", count: 64), "ü"] {
      XCTAssertThrowsError(try VolumeName(bad), bad)
    }
    XCTAssertNoThrow(try VolumeName("a.b_c-9"))
    XCTAssertThrowsError(try VolumePath("/a/../b"))
    XCTAssertThrowsError(try VolumePath("/a/" + String(repeating: "x", count: 256)))
    XCTAssertEqual(try VolumePath("a//b/./c/").rawValue, "/a/b/c")
    XCTAssertEqual(try VolumePath("/").rawValue, "/")
    XCTAssertEqual(try VolumePath("/a/b").parent.rawValue, "/a")
    XCTAssertEqual(try VolumePath("/a").parent.rawValue, "/")
    XCTAssertEqual(try VolumePath("/a/b").name, "b")
  }

  func testCRC32CMatchesKnownVector() {
    XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
  }

  func testSHA256MatchesKnownVector() {
    XCTAssertEqual(
      BlockAddress.of(Array("abc".utf8)).hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }
}
