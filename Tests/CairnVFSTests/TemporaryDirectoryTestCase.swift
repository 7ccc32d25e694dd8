import CairnVFS
import Foundation
import XCTest

/// A test case with a fresh scratch directory per test (removed afterwards), the root inode and
/// a root caller: the fixture the VolumeFS suites share.
class TemporaryDirectoryTestCase: XCTestCase {
  var directory: String!
  let root: UInt64 = 1
  let me = Caller(uid: 0, gid: 0)
  /// Names the scratch directory, to tell the suites' leftovers apart.
  var directoryPrefix: String { "cairn-vfs" }

  override func setUpWithError() throws {
    directory = NSTemporaryDirectory() + "\(directoryPrefix)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  }

  override func tearDown() {
    try? FileManager.default.removeItem(atPath: directory)
    super.tearDown()
  }
}
