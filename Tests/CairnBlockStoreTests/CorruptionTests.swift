import CairnBlockStore
import CairnCore
import Foundation
import XCTest

/// A block whose stored bytes changed is never returned: it is quarantined and reported.
final class CorruptionTests: BlockStoreTestCase {
  private func flipByte(at offset: Int, of path: String) throws {
    let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    let byte = try XCTUnwrap(handle.readData(ofLength: 1).first)
    try handle.seek(toOffset: UInt64(offset))
    handle.write(Data([byte ^ 0x01]))
  }

  private func fileSize(_ path: String) throws -> Int {
    try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
  }

  /// Stores `bytes`, flips the byte at `offset(fileSize)`, and checks the read is refused.
  private func assertFlipIsCaught(
    _ bytes: [UInt8], offset: (Int) -> Int, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    let store = try BlockStore(directory: root)
    let address = BlockAddress.of(bytes)
    try store.put(bytes, address: address)
    let path = blockPath(address)
    try flipByte(at: offset(try fileSize(path)), of: path)

    XCTAssertThrowsError(try store.read(address), file: file, line: line) { error in
      let error = error as? CairnError
      XCTAssertEqual(error?.code, .corruptBlock, file: file, line: line)
      XCTAssertTrue(
        error?.message.contains(address.hex) ?? false, "the error names the address", file: file, line: line)
    }
    XCTAssertFalse(
      FileManager.default.fileExists(atPath: path), "the corrupt file left blocks/", file: file, line: line)
    XCTAssertEqual(filesUnder(root + "/quarantine").count, 1, file: file, line: line)
    XCTAssertEqual(store.corruptBlocks(), [address], file: file, line: line)
    XCTAssertEqual(try store.stats().corruptBlockCount, 1, file: file, line: line)
    XCTAssertEqual(try store.stats().blockCount, 0, file: file, line: line)
    assertCairnError(.notFound, file: file, line: line) { _ = try store.read(address) }
    XCTAssertEqual(
      try store.put(bytes, address: address), .stored, "a good copy can be put back", file: file, line: line)
    XCTAssertEqual(try store.read(address), bytes, file: file, line: line)
  }

  /// An I/O error reading a block (here EISDIR: the block's path became a directory, which fails
  /// in read(2) like a bad sector does) marks that copy bad: moved aside and reported like a
  /// corrupt one, so repair replaces it; before, it was a plain I/O error that nothing acted on.
  func testUnreadableBlockIsQuarantinedLikeACorruptOne() throws {
    let store = try BlockStore(directory: root)
    let bytes = randomBytes(3 * chunk)
    let address = BlockAddress.of(bytes)
    try store.put(bytes, address: address)
    let path = blockPath(address)
    try FileManager.default.removeItem(atPath: path)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)

    XCTAssertThrowsError(try store.read(address)) { error in
      let error = error as? CairnError
      XCTAssertEqual(error?.code, .corruptBlock)
      XCTAssertTrue(error?.message.contains("unreadable") ?? false, "\(String(describing: error))")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the unreadable copy left blocks/")
    XCTAssertEqual(store.corruptBlocks(), [address])
    assertCairnError(.notFound) { _ = try store.read(address) }
    XCTAssertEqual(try store.put(bytes, address: address), .stored, "a good copy can be put back")
    XCTAssertEqual(try store.read(address), bytes)
  }

  func testFlippedByteInARawSegmentIsQuarantined() throws {
    try assertFlipIsCaught(randomBytes(3 * chunk), offset: { $0 / 2 })
  }

  func testFlippedByteInACompressedSegmentIsQuarantined() throws {
    try assertFlipIsCaught(compressibleBytes(3 * chunk), offset: { $0 - 10 })
  }

  func testFlippedByteInTheHeaderIsQuarantined() throws {
    try assertFlipIsCaught(randomBytes(100), offset: { _ in 9 })
  }

  func testFlippedByteInASegmentHeaderIsQuarantined() throws {
    try assertFlipIsCaught(randomBytes(100), offset: { _ in 60 + 2 })
  }

  func testTruncatedAndExtendedFilesAreQuarantined() throws {
    let store = try BlockStore(directory: root)
    let first = randomBytes(chunk + 100)
    let second = randomBytes(200)
    try store.put(first, address: BlockAddress.of(first))
    try store.put(second, address: BlockAddress.of(second))
    XCTAssertEqual(
      truncate(blockPath(BlockAddress.of(first)), off_t(try fileSize(blockPath(BlockAddress.of(first))) - 1)), 0)
    let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: blockPath(BlockAddress.of(second))))
    try handle.seekToEnd()
    handle.write(Data([0]))
    try handle.close()
    assertCairnError(.corruptBlock) { _ = try store.read(BlockAddress.of(first)) }
    assertCairnError(.corruptBlock) { _ = try store.read(BlockAddress.of(second)) }
    XCTAssertEqual(Set(store.corruptBlocks()), [BlockAddress.of(first), BlockAddress.of(second)])
  }

  func testFileHoldingAnotherBlockIsQuarantined() throws {
    let store = try BlockStore(directory: root)
    let good = randomBytes(300)
    let other = randomBytes(300)
    try store.put(good, address: BlockAddress.of(good))
    try store.put(other, address: BlockAddress.of(other))
    try FileManager.default.removeItem(atPath: blockPath(BlockAddress.of(good)))
    try FileManager.default.copyItem(
      atPath: blockPath(BlockAddress.of(other)), toPath: blockPath(BlockAddress.of(good)))
    assertCairnError(.corruptBlock) { _ = try store.read(BlockAddress.of(good)) }
  }

  func testScrubReportsHealthyMissingAndCorruptBlocks() throws {
    let store = try BlockStore(directory: root)
    let bytes = compressibleBytes(2 * chunk)
    let address = BlockAddress.of(bytes)
    try store.put(bytes, address: address)
    XCTAssertEqual(try store.scrub(address), .healthy)
    try flipByte(at: 100, of: blockPath(address))
    guard case .quarantined(let error) = try store.scrub(address) else { return XCTFail("scrub missed a flipped byte") }
    XCTAssertEqual(error.code, .corruptBlock)
    XCTAssertEqual(try store.scrub(address), .missing)
  }
}

final class ZstdTests: XCTestCase {
  func testRoundTripsAndRefusesOutputLargerThanDeclared() throws {
    let raw = [UInt8](repeating: 7, count: 100_000)
    let frame = try raw.withUnsafeBytes { try Zstd.compress($0, level: 1) }
    XCTAssertLessThan(frame.count, 1000)
    XCTAssertEqual(try frame.withUnsafeBytes { try Zstd.decompress($0, rawLength: raw.count) }, raw)
    for wrongLength in [0, raw.count - 1, raw.count + 1] {
      XCTAssertThrowsError(try frame.withUnsafeBytes { try Zstd.decompress($0, rawLength: wrongLength) }) { error in
        XCTAssertEqual((error as? CairnError)?.code, .corruptBlock)
      }
    }
  }

  func testRefusesGarbage() {
    let garbage: [UInt8] = Array("definitely not a zstd frame".utf8)
    XCTAssertThrowsError(try garbage.withUnsafeBytes { try Zstd.decompress($0, rawLength: 100) })
  }
}
