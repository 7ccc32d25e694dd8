import CairnBlockStore
import CairnCore
import Foundation
import XCTest

/// A full disk fails puts cleanly (`.noSpace`, nothing partial visible) and reads keep working.
final class DiskFullTests: BlockStoreTestCase {
  /// Size of the tmpfs: room for the directories and a small block, not for a large one.
  private static let tinyFilesystemBytes = "1m"

  func testPutOnAFullDiskFailsWithNoSpaceAndReadsKeepWorking() throws {
    let mountPoint = root + "/tiny"
    try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
    guard mount("tmpfs", mountPoint, "tmpfs", 0, "size=\(Self.tinyFilesystemBytes)") == 0 else {
      throw XCTSkip("cannot mount a tmpfs here (\(String(cString: strerror(errno)))); run as root to test a full disk")
    }
    defer { XCTAssertEqual(umount2(mountPoint, Int32(MNT_DETACH)), 0, "unmounting \(mountPoint)") }

    let store = try BlockStore(directory: mountPoint + "/data")
    let small = randomBytes(64 << 10)
    try store.put(small, address: BlockAddress.of(small))

    let large = randomBytes(2 * chunk)
    XCTAssertThrowsError(try streamPut(store, large)) { error in
      let error = error as? CairnError
      XCTAssertEqual(error?.code, .noSpace)
      XCTAssertTrue(error?.message.hasPrefix("chunk server disk is full") ?? false, "\(String(describing: error))")
    }
    XCTAssertEqual(store.has([BlockAddress.of(large)]), [false])
    XCTAssertEqual(filesUnder(mountPoint + "/data/tmp"), [], "the partial block was removed")
    XCTAssertEqual(try store.inventory(), [BlockAddress.of(small)])
    XCTAssertEqual(try store.read(BlockAddress.of(small)), small, "reads keep working on a full disk")
    XCTAssertEqual(try store.stats().blockCount, 1)

    // Space freed by a delete is usable again.
    try store.delete(BlockAddress.of(small))
    let medium = randomBytes(256 << 10)
    XCTAssertEqual(try store.put(medium, address: BlockAddress.of(medium)), .stored)
    XCTAssertEqual(try store.read(BlockAddress.of(medium)), medium)
  }
}
