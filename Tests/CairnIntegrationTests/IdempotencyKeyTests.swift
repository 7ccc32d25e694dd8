import CairnClient
import CairnCore
import XCTest

/// Commit idempotency keys made by the client: unique (also from many threads at once), within
/// the server's length limit, with one random 128-bit prefix per process.
final class IdempotencyKeyTests: XCTestCase {
  func testKeysAreUniqueAndShort() async {
    let keys = await withTaskGroup(of: [String].self) { group in
      for _ in 0..<8 { group.addTask { (0..<2000).map { _ in IdempotencyKeys.next() } } }
      var all: [String] = []
      for await part in group { all += part }
      return all
    }
    XCTAssertEqual(Set(keys).count, keys.count, "every key once")
    for key in keys.prefix(100) { XCTAssertLessThanOrEqual(key.utf8.count, Limits.maxIdempotencyKeyBytes) }
    let prefixes = Set(keys.map { $0.split(separator: "-").first.map(String.init) ?? "" })
    XCTAssertEqual(prefixes.count, 1, "one random prefix per process")
    XCTAssertEqual(prefixes.first?.count, 32, "128 random bits")
  }
}
