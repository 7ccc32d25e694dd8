import CairnTestSupport
import XCTest

@testable import CairnCore

/// Every strict prefix refused, corruptions and garbage never trap (`hostileInputProblems`).
func assertHostileInputRefused<T>(
  _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line, _ decode: ([UInt8]) throws(CairnError) -> T
) {
  XCTAssertEqual(hostileInputProblems(bytes, refusesTrailingByte: false, decode), [], file: file, line: line)
}

final class WireCodingTests: XCTestCase {
  static let address = BlockAddress.of([1, 2, 3])

  static func sampleCommit() throws -> CommitRequest {
    let attributes = Attributes(mode: 0o100644, uid: 1000, gid: 100, mtimeNanos: -5, ctimeNanos: 1_700_000_000_000_000_000)
    let manifest = Manifest(blocks: [BlockRef(address: address, length: 4096), BlockRef(address: nil, length: 17)])
    return CommitRequest(
      volume: try VolumeName("vol-1"), baseVersion: 42,
      changes: [
        .put(try VolumePath("/a/b.txt"), .file(manifest, attributes)),
        .put(try VolumePath("/d"), .directory(attributes)),
        .put(try VolumePath("/l"), .symlink(target: "../x", attributes)),
        .delete(try VolumePath("/old"), recursive: true),
        .rename(from: try VolumePath("/r1"), to: try VolumePath("/r2"), replace: false),
        .copy(from: try VolumePath("/c1"), to: try VolumePath("/c2/é"), replace: true),
      ],
      mode: .strict, idempotencyKey: "key-1", author: "ann", message: "hello\nworld")
  }

  func roundTrip<T: WireCodable & Equatable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws {
    let bytes = value.wireEncoded()
    XCTAssertEqual(try T(wireDecoding: bytes), value, file: file, line: line)
    let marked = value.wireEncoded(marker: 0xC9)
    XCTAssertEqual(try T(wireDecoding: marked, marker: 0xC9), value, file: file, line: line)
    XCTAssertThrowsError(try T(wireDecoding: marked, marker: 0xCA), file: file, line: line)
  }

  func testModelTypesRoundTrip() throws {
    let commit = try Self.sampleCommit()
    try roundTrip(commit)
    try roundTrip(CommitResult(version: .max, wasDuplicate: true))
    try roundTrip(Entry(kind: .symlink, inode: 7, attributes: Attributes(mode: 0, mtimeNanos: .min), symlinkTarget: "t"))
    try roundTrip(
      VolumeInfo(
        name: try VolumeName("v"), id: 1, headVersion: 2, oldestVersion: 1, settings: VolumeSettings(), createdNanos: .max,
        updatedNanos: 0, fileCount: 3, totalBytes: 1 << 40))
    try roundTrip(
      VersionInfo(
        version: 9, parent: 8, author: "", timeNanos: -1, message: "m", changedPaths: 1, fileCount: 2, totalBytes: 3))
    try roundTrip(Self.address)
    try roundTrip(VolumePath.root)
  }

  /// The hostile-input check itself: a decoder that accepts prefixes or trailing bytes is named.
  func testHostileInputCheckNamesADecoderThatAcceptsTooMuch() {
    let lax = hostileInputProblems([1, 2, 3]) { (b: [UInt8]) throws(CairnError) in b.count }
    XCTAssertEqual(lax.count, 4, "\(lax)")  // three prefixes and the trailing byte
    let strict = hostileInputProblems([1, 2, 3]) { (b: [UInt8]) throws(CairnError) -> Int in
      guard b == [1, 2, 3] else { throw CairnError(.protocolError, "not 1, 2, 3") }
      return 3
    }
    XCTAssertEqual(strict, [])
  }

  func testCommitRefusesHostileInput() throws {
    let bytes = try Self.sampleCommit().wireEncoded()
    assertHostileInputRefused(bytes) { b throws(CairnError) in try CommitRequest(wireDecoding: b) }
    let info = VolumeInfo(
      name: try VolumeName("v"), id: 1, headVersion: 2, oldestVersion: 1, settings: VolumeSettings(), createdNanos: 5,
      updatedNanos: 6, fileCount: 3, totalBytes: 4)
    assertHostileInputRefused(info.wireEncoded()) { b throws(CairnError) in try VolumeInfo(wireDecoding: b) }
  }

  func testInvalidValuesAreRefusedWithClearErrors() throws {
    func message(_ bytes: [UInt8], _ decode: ([UInt8]) throws(CairnError) -> Any) -> String {
      do {
        _ = try decode(bytes)
        return "decoded"
      } catch { return error.message }
    }
    let path = { (b: [UInt8]) throws(CairnError) -> Any in try VolumePath(wireDecoding: b) }
    XCTAssertTrue(message([3] + Array("/a/".utf8), path).contains("not normalized"))
    XCTAssertTrue(message([5] + Array("/../x".utf8), path).contains("escapes"))
    XCTAssertTrue(message([2, 0xC3, 0x28], path).contains("UTF-8"))
    let name = { (b: [UInt8]) throws(CairnError) -> Any in try VolumeName(wireDecoding: b) }
    XCTAssertTrue(message([1] + Array("A".utf8), name).contains("invalid volume name"))
    let change = { (b: [UInt8]) throws(CairnError) -> Any in try Change(wireDecoding: b) }
    XCTAssertTrue(message([9], change).contains("unknown Change tag 9"))
    let result = { (b: [UInt8]) throws(CairnError) -> Any in try CommitResult(wireDecoding: b) }
    XCTAssertTrue(message([1, 2], result).contains("bool byte 2"))
    XCTAssertTrue(message([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0], result).contains("overflows"))
    XCTAssertTrue(message([0x80, 0x80], result).contains("truncated"))
    let manifest = { (b: [UInt8]) throws(CairnError) -> Any in try Manifest(wireDecoding: b) }
    XCTAssertTrue(message([0xFF, 0xFF, 0xFF, 0xFF, 0x0F], manifest).contains("exceeds the limit"))
    XCTAssertTrue(message([5, 0], manifest).contains("runs past the end"))
    XCTAssertTrue(message([1, 0], manifest).contains("malformed Manifest at byte"))
    let attributes = { (b: [UInt8]) throws(CairnError) -> Any in try Attributes(wireDecoding: b) }
    XCTAssertTrue(message([0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0, 0], attributes).contains("does not fit UInt32"))
  }

  func testEncodingIsCompactAndStable() throws {
    // The layout is a stored format: this pins it (change it only with a new marker or tag).
    let result = CommitResult(version: 300, wasDuplicate: true).wireEncoded()
    XCTAssertEqual(result, [0xAC, 0x02, 1])
    let attributes = Attributes(mode: 1, uid: 2, gid: 3, mtimeNanos: -1, ctimeNanos: 1).wireEncoded()
    XCTAssertEqual(attributes, [1, 2, 3, 1, 2])
    let commit = try Self.sampleCommit()
    XCTAssertLessThan(commit.wireEncoded().count * 2, try BinaryEncoder().encode(commit).count)
  }
}
