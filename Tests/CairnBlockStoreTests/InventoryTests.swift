import CairnBlockStore
import CairnCore
import Foundation
import XCTest

final class InventoryTests: BlockStoreTestCase {
  func testPagesCoverEveryBlockOnceInOrder() throws {
    let store = try BlockStore(directory: root)
    var addresses: [BlockAddress] = []
    for _ in 0..<40 {
      let bytes = randomBytes(100)
      try store.put(bytes, address: BlockAddress.of(bytes))
      addresses.append(BlockAddress.of(bytes))
    }
    var paged: [BlockAddress] = []
    var after: BlockAddress?
    while true {
      let page = try store.inventory(after: after, limit: 3)
      guard let last = page.last else { break }
      XCTAssertLessThanOrEqual(page.count, 3)
      paged += page.map(\.address)
      after = last.address
    }
    XCTAssertEqual(paged, addresses.sorted())
    XCTAssertEqual(try store.inventory(), addresses.sorted())
    XCTAssertTrue(try store.inventory(after: nil, limit: 100).allSatisfy { $0.storedBytes > 0 })
  }

  func testPurgeQuarantineDeletesOnlyThatBlocksFiles() throws {
    let store = try BlockStore(directory: root)
    let a = randomBytes(300)
    let b = randomBytes(300)
    for bytes in [a, b] { try store.put(bytes, address: BlockAddress.of(bytes)) }
    for bytes in [a, b] {
      let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: blockPath(BlockAddress.of(bytes))))
      try handle.seek(toOffset: 100)
      handle.write(Data([0xFF, 0xFF]))
      try handle.close()
      XCTAssertNotEqual(try store.scrub(BlockAddress.of(bytes)), .healthy)
    }
    XCTAssertEqual(try store.purgeQuarantine(BlockAddress.of(a)), 1)
    let left = try FileManager.default.contentsOfDirectory(atPath: root + "/quarantine")
    XCTAssertEqual(left.count, 1)
    XCTAssertTrue(left[0].hasPrefix(BlockAddress.of(b).hex))
  }
}
