import CairnBlockStore
import CairnCore
import Foundation
import XCTest

final class BlockStoreTests: BlockStoreTestCase {
  func testRoundTripsEverySizeAroundTheSegmentBoundary() throws {
    let store = try BlockStore(directory: root)
    let sizes = [0, 1, chunk - 1, chunk, chunk + 1, 5 * chunk + 3]
    var addresses: [BlockAddress] = []
    for size in sizes {
      for bytes in [randomBytes(size), compressibleBytes(size)] {
        XCTAssertEqual(
          try streamPut(store, bytes),
          size == 0 && addresses.contains(BlockAddress.of(bytes)) ? .alreadyPresent : .stored)
        let address = BlockAddress.of(bytes)
        addresses.append(address)
        XCTAssertEqual(try store.read(address), bytes, "size \(size)")
      }
    }
    let unique = Set(addresses)
    XCTAssertEqual(try store.inventory(), unique.sorted())
    XCTAssertEqual(store.has(Array(unique)), Array(repeating: true, count: unique.count))
    XCTAssertEqual(try store.stats().blockCount, unique.count)
    XCTAssertEqual(filesUnder(root + "/tmp"), [])
  }

  func testCompressibleBlocksTakeLessSpaceAndRandomOnesBarelyMore() throws {
    let store = try BlockStore(directory: root)
    let text = compressibleBytes(4 << 20)
    try store.put(text, address: BlockAddress.of(text))
    XCTAssertLessThan(try store.stats().storedBytes, 2 << 20)

    let other = try BlockStore(directory: root + "/random")
    try streamPut(other, randomBytes(4 << 20))
    let stored = try other.stats().storedBytes
    XCTAssertLessThanOrEqual(stored, (4 << 20) + 1024, "incompressible segments are stored raw")
  }

  func testStatsReportBlocksAndFilesystem() throws {
    let store = try BlockStore(directory: root)
    let bytes = randomBytes(1000)
    try store.put(bytes, address: BlockAddress.of(bytes))
    let stats = try store.stats()
    XCTAssertEqual(stats.blockCount, 1)
    XCTAssertGreaterThan(stats.storedBytes, 1000)
    XCTAssertGreaterThan(stats.capacityBytes, 0)
    XCTAssertGreaterThan(stats.freeBytes, 0)
    XCTAssertLessThanOrEqual(stats.freeBytes, stats.capacityBytes)
    XCTAssertEqual(stats.corruptBlockCount, 0)
  }

  func testCountsSurviveReopen() throws {
    var store: BlockStore? = try BlockStore(directory: root)
    for size in [10, 20, 30] { try streamPut(try XCTUnwrap(store), randomBytes(size)) }
    let before = try XCTUnwrap(store).stats()
    store = nil
    let reopened = try BlockStore(directory: root)
    let after = try reopened.stats()
    XCTAssertEqual(after.blockCount, 3)
    XCTAssertEqual(after.storedBytes, before.storedBytes)
  }

  func testPutWhoseBytesDoNotMatchTheAddressIsRefusedAndLeavesNothing() throws {
    let store = try BlockStore(directory: root)
    let bytes = randomBytes(chunk + 5)
    var wrong = bytes
    wrong[chunk] ^= 1
    let writer = try store.beginPut(address: BlockAddress.of(bytes), length: wrong.count)
    try writer.append(wrong)
    XCTAssertThrowsError(try writer.finish()) { error in
      let error = error as? CairnError
      XCTAssertEqual(error?.code, .corruptBlock)
      XCTAssertTrue(error?.message.contains(BlockAddress.of(bytes).hex) ?? false, "the error names the address")
    }
    XCTAssertEqual(store.has([BlockAddress.of(bytes)]), [false])
    XCTAssertEqual(filesUnder(root + "/blocks"), [])
    XCTAssertEqual(filesUnder(root + "/tmp"), [])
    assertCairnError(.notFound) { _ = try store.read(BlockAddress.of(bytes)) }
  }

  func testPutOfTheWrongLengthIsRefused() throws {
    let store = try BlockStore(directory: root)
    let bytes = randomBytes(100)
    let short = try store.beginPut(address: BlockAddress.of(bytes), length: 100)
    try short.append(bytes.prefix(99))
    assertCairnError(.invalidArgument) { try short.finish() }

    let long = try store.beginPut(address: BlockAddress.of(bytes), length: 99)
    assertCairnError(.invalidArgument) { try long.append(bytes) }
    XCTAssertEqual(filesUnder(root + "/tmp"), [])
    XCTAssertEqual(try store.inventory(), [])
  }

  func testCallsAfterAFailureOrFinishThrowInsteadOfTrapping() throws {
    let store = try BlockStore(directory: root)
    let bytes = randomBytes(100)
    let failed = try store.beginPut(address: BlockAddress.of(bytes), length: 10)
    assertCairnError(.invalidArgument) { try failed.append(bytes) }
    assertCairnError(.invalidArgument) { try failed.append(bytes.prefix(1)) }
    assertCairnError(.invalidArgument) { try failed.finish() }
    failed.abort()

    let finished = try store.beginPut(address: BlockAddress.of(bytes), length: bytes.count)
    try finished.append(bytes)
    XCTAssertEqual(try finished.finish(), .stored)
    assertCairnError(.invalidArgument) { try finished.append([1]) }
    assertCairnError(.invalidArgument) { try finished.finish() }
    finished.abort()
    XCTAssertEqual(try store.read(BlockAddress.of(bytes)), bytes, "abort after finish keeps the block")
  }

  func testWriterCanMoveBetweenThreadsChunkByChunk() throws {
    let store = try BlockStore(directory: root)
    let bytes = compressibleBytes(3 * chunk + 11)
    let writer = try store.beginPut(address: BlockAddress.of(bytes), length: bytes.count)
    let failures = LockedCounter()
    for start in stride(from: 0, to: bytes.count, by: chunk) {
      let piece = Array(bytes[start..<min(bytes.count, start + chunk)])
      let done = DispatchSemaphore(value: 0)
      DispatchQueue.global().async {
        do { try writer.append(piece) } catch { failures.increment() }
        done.signal()
      }
      done.wait()
    }
    XCTAssertEqual(failures.value, 0)
    XCTAssertEqual(try writer.finish(), .stored)
    XCTAssertEqual(try store.read(BlockAddress.of(bytes)), bytes)
  }

  func testBlocksLargerThanTheLimitAreRefusedUpFront() throws {
    let store = try BlockStore(directory: root)
    assertCairnError(.tooLarge) {
      _ = try store.beginPut(address: BlockAddress.of([]), length: Limits.maxBlockBytes + 1)
    }
  }

  func testPuttingAnExistingBlockIsANoOpThatStillVerifies() throws {
    let store = try BlockStore(directory: root)
    let bytes = compressibleBytes(3 * chunk)
    XCTAssertEqual(try streamPut(store, bytes), .stored)
    XCTAssertEqual(try streamPut(store, bytes), .alreadyPresent)
    var wrong = bytes
    wrong[7] ^= 0x40
    let writer = try store.beginPut(address: BlockAddress.of(bytes), length: bytes.count)
    try writer.append(wrong)
    assertCairnError(.corruptBlock) { try writer.finish() }
    XCTAssertEqual(try store.read(BlockAddress.of(bytes)), bytes)
    XCTAssertEqual(try store.stats().blockCount, 1)
  }

  func testAbortAndAbandonedWritersLeaveNothing() throws {
    let store = try BlockStore(directory: root)
    let bytes = randomBytes(2 * chunk)
    let writer = try store.beginPut(address: BlockAddress.of(bytes), length: bytes.count)
    try writer.append(bytes.prefix(chunk + 1))
    XCTAssertEqual(filesUnder(root + "/tmp").count, 1)
    writer.abort()
    writer.abort()
    XCTAssertEqual(filesUnder(root + "/tmp"), [])
    do {
      let abandoned = try store.beginPut(address: BlockAddress.of(bytes), length: bytes.count)
      try abandoned.append(bytes.prefix(10))
    }
    XCTAssertEqual(filesUnder(root + "/tmp"), [])
    XCTAssertEqual(store.has([BlockAddress.of(bytes)]), [false])
  }

  func testLeftoverTemporaryFilesAreClearedAtOpen() throws {
    try FileManager.default.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
    try Data(randomBytes(4096)).write(
      to: URL(fileURLWithPath: root + "/tmp/" + String(repeating: "ab", count: 32) + ".1.tmp"))
    let store = try BlockStore(directory: root)
    XCTAssertEqual(filesUnder(root + "/tmp"), [])
    XCTAssertEqual(try store.inventory(), [])
  }

  func testSecondOpenOfTheSameDirectorySaysItIsInUse() throws {
    let store = try BlockStore(directory: root)
    XCTAssertThrowsError(try BlockStore(directory: root)) { error in
      XCTAssertEqual((error as? CairnError)?.code, .unavailable)
      XCTAssertEqual((error as? CairnError)?.message, "data directory \(self.root) is in use by another process")
    }
    withExtendedLifetime(store) {}
  }

  func testDeleteRemovesTheBlock() throws {
    let store = try BlockStore(directory: root)
    let bytes = randomBytes(5000)
    let address = BlockAddress.of(bytes)
    try store.put(bytes, address: address)
    XCTAssertTrue(try store.delete(address))
    XCTAssertFalse(try store.delete(address))
    XCTAssertEqual(store.has([address]), [false])
    assertCairnError(.notFound) { _ = try store.read(address) }
    XCTAssertEqual(try store.stats().blockCount, 0)
    XCTAssertEqual(try store.stats().storedBytes, 0)
  }

  func testConcurrentPutsOfOneBlockStoreItOnce() throws {
    let store = try BlockStore(directory: root)
    let bytes = randomBytes(2 * chunk + 17)
    let failures = LockedCounter()
    DispatchQueue.concurrentPerform(iterations: 8) { _ in
      do { try store.put(bytes, address: BlockAddress.of(bytes)) } catch { failures.increment() }
    }
    XCTAssertEqual(failures.value, 0)
    XCTAssertEqual(try store.stats().blockCount, 1)
    XCTAssertEqual(try store.read(BlockAddress.of(bytes)), bytes)
    XCTAssertEqual(filesUnder(root + "/tmp"), [])
  }
}

final class LockedCounter: @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0
  var value: Int { lock.withLock { count } }
  func increment() { lock.withLock { count += 1 } }
}
