import CairnCore
import CairnKV
import CairnRocksDB
import Foundation
import XCTest

/// The data directory lock as a second *process* sees it (the production case): the test binary
/// runs itself as the lock holder.
final class RocksDBLockTests: XCTestCase {
  private static let holderDirectoryVariable = "CAIRN_TEST_HOLD_ROCKSDB_LOCK"
  /// How long either side waits for the other before giving up.
  private static let handshakeTimeoutSeconds = 30.0

  /// Not a test on its own: in the child process, holds the database open until told to stop.
  func testHoldLockForAnotherProcess() throws {
    guard let directory = ProcessInfo.processInfo.environment[Self.holderDirectoryVariable] else {
      throw XCTSkip("runs only as the lock-holding child of testSecondProcessIsToldTheDirectoryIsInUse")
    }
    let store = try RocksDBStore(path: directory + "/db")
    _ = FileManager.default.createFile(atPath: directory + "/ready", contents: nil)
    try Self.waitFor(directory + "/release")
    withExtendedLifetime(store) {}
  }

  func testSecondProcessIsToldTheDirectoryIsInUse() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-lock-\(UUID().uuidString)")
      .path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    child.arguments = ["CairnKVTests.RocksDBLockTests/testHoldLockForAnotherProcess"]
    child.environment = ProcessInfo.processInfo.environment.merging([Self.holderDirectoryVariable: directory]) { $1 }
    child.standardOutput = FileHandle.nullDevice
    child.standardError = FileHandle.nullDevice
    try child.run()
    defer {
      _ = FileManager.default.createFile(atPath: directory + "/release", contents: nil)
      child.waitUntilExit()
    }
    try Self.waitFor(directory + "/ready", while: { child.isRunning })

    XCTAssertThrowsError(try RocksDBStore(path: directory + "/db")) { error in
      let error = error as? CairnError
      XCTAssertEqual(error?.code, .unavailable, "\(String(describing: error?.details))")
      XCTAssertEqual(error?.message, "data directory \(directory)/db is in use by another process")
    }
  }

  /// Polls for `path` (a readiness file written by the other process) while `isAlive`.
  private static func waitFor(_ path: String, while isAlive: () -> Bool = { true }) throws {
    let deadline = Date().addingTimeInterval(handshakeTimeoutSeconds)
    while !FileManager.default.fileExists(atPath: path) {
      guard isAlive() else { throw CairnError(.unavailable, "the other process exited before creating \(path)") }
      guard Date() < deadline else { throw CairnError(.timeout, "gave up waiting for \(path)") }
      usleep(10_000)
    }
  }
}
