import CairnBlockStore
import CairnCore
import Foundation
import XCTest

/// Shared fixtures: a fresh data directory per test, removed afterwards, and seeded test data.
class BlockStoreTestCase: XCTestCase {
  var root = ""
  var rng = SeededRandom(seed: 0)
  let chunk = Limits.bodyChunkBytes

  override func setUpWithError() throws {
    root = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-blocks-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    let seed = ProcessInfo.processInfo.environment["CAIRN_TEST_SEED"].flatMap(UInt64.init) ?? 0xC0FFEE
    rng = SeededRandom(seed: seed)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: root)
  }

  func randomBytes(_ count: Int) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(count + 8)
    while out.count < count {
      withUnsafeBytes(of: rng.next().littleEndian) { out.append(contentsOf: $0) }
    }
    return Array(out.prefix(count))
  }

  /// Text-like bytes that zstd shrinks a lot.
  func compressibleBytes(_ count: Int) -> [UInt8] {
    let words = ["block", "volume", "chunk", "replica", "commit", "version", "\n"].map { Array($0.utf8) + [0x20] }
    var out = [UInt8]()
    out.reserveCapacity(count + 16)
    while out.count < count { out += words[Int(rng.next() % UInt64(words.count))] }
    return Array(out.prefix(count))
  }

  func filesUnder(_ path: String) -> [String] {
    (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []).filter {
      var isDirectory: ObjCBool = false
      return FileManager.default.fileExists(atPath: path + "/" + $0, isDirectory: &isDirectory)
        && !isDirectory.boolValue
    }
  }

  func blockPath(_ address: BlockAddress) -> String {
    let hex = address.hex
    return "\(root)/blocks/\(hex.prefix(2))/\(hex.dropFirst(2).prefix(2))/\(hex)"
  }

  /// Streams `bytes` into `store` in chunks of `chunkBytes`.
  @discardableResult
  func streamPut(_ store: BlockStore, _ bytes: [UInt8], chunkBytes: Int = 300_001) throws -> BlockWriter.Outcome {
    let writer = try store.beginPut(address: BlockAddress.of(bytes), length: bytes.count)
    var offset = 0
    while offset < bytes.count {
      let end = min(bytes.count, offset + chunkBytes)
      try writer.append(bytes[offset..<end])
      offset = end
    }
    return try writer.finish()
  }

  func assertCairnError(
    _ code: CairnError.Code, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
  ) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
      XCTAssertEqual((error as? CairnError)?.code, code, "\(error)", file: file, line: line)
    }
  }
}
