import CairnBlockStore
import CairnCore
import Foundation
import XCTest

/// What a power cut can leave behind (unsynced data lost: torn temporary files, block files cut
/// short or holding zeros) is never offered or served after a restart.
final class PowerCutTests: BlockStoreTestCase {
  func testTornTemporaryAndBlockFilesAreNeverServedAfterRestart() throws {
    var store: BlockStore? = try BlockStore(directory: root)
    let whole = randomBytes(3 * chunk + 17)
    let cut = randomBytes(2 * chunk + 5)
    let zeroed = randomBytes(2 * chunk)
    let header = randomBytes(500)
    for bytes in [whole, cut, zeroed, header] { try store?.put(bytes, address: BlockAddress.of(bytes)) }
    store = nil
    // Half-written files: a put in flight (temporary file), a block cut in the middle of a
    // segment, one whose last bytes came back as zeros, one cut inside its header.
    try Data(randomBytes(1000)).write(to: URL(fileURLWithPath: root + "/tmp/\(BlockAddress.of(whole).hex).9.tmp"))
    let cutPath = blockPath(BlockAddress.of(cut))
    XCTAssertEqual(truncate(cutPath, off_t(try fileSize(cutPath) / 2)), 0)
    let zeroPath = blockPath(BlockAddress.of(zeroed))
    let zeroHandle = try XCTUnwrap(FileHandle(forUpdatingAtPath: zeroPath))
    let size = try fileSize(zeroPath)
    try zeroHandle.seek(toOffset: UInt64(size - 100))
    zeroHandle.write(Data(count: 100))
    try zeroHandle.close()
    XCTAssertEqual(truncate(blockPath(BlockAddress.of(header)), 30), 0)

    let reopened = try BlockStore(directory: root)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp"), [], "torn puts are cleared")
    XCTAssertEqual(
      reopened.has([whole, cut, header].map { BlockAddress.of($0) }), [true, false, false],
      "structurally torn files are quarantined at open and never offered")
    XCTAssertEqual(Set(reopened.corruptBlocks()), [BlockAddress.of(cut), BlockAddress.of(header)])
    XCTAssertEqual(try reopened.stats().blockCount, 2)
    XCTAssertEqual(try reopened.read(BlockAddress.of(whole)), whole)
    // Zeros inside a segment keep the file's shape: the first read catches them by checksum.
    assertCairnError(.corruptBlock) { _ = try reopened.read(BlockAddress.of(zeroed)) }
    XCTAssertEqual(reopened.has([BlockAddress.of(zeroed)]), [false])
    for bytes in [cut, header] { assertCairnError(.notFound) { _ = try reopened.read(BlockAddress.of(bytes)) } }
  }
}

extension PowerCutTests {
  func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
  }
}
