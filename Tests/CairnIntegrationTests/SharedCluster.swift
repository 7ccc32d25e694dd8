import CairnTestSupport
import Foundation
import XCTest

/// One real cluster shared by the tests of a class (started in `class setUp`, stopped in
/// `class tearDown`), and a scratch directory per test.
class SharedClusterTestCase: XCTestCase {
  nonisolated(unsafe) static var shared: ClusterFixture?
  var cluster: ClusterFixture {
    guard let c = Self.shared else { preconditionFailure("cluster not started") }
    return c
  }
  var scratch = ""

  override class func setUp() {
    super.setUp()
    do {
      shared = try ClusterFixture(chunkServers: 3)
    } catch {
      XCTFail("cannot start cluster: \(error)")
    }
  }

  override class func tearDown() {
    shared?.stop()
    shared = nil
    super.tearDown()
  }

  override func setUpWithError() throws {
    try XCTSkipIf(Self.shared == nil, "no cluster")
    scratch = NSTemporaryDirectory() + "cairn-scratch-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: scratch)
  }

  /// Runs the CLI and fails the test (with its stderr) unless it exits 0.
  @discardableResult
  func ok(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
    let r = try cluster.cairn(args, in: scratch)
    XCTAssertEqual(r.status, 0, "cairn \(args.joined(separator: " ")) failed: \(r.err)", file: file, line: line)
    return r
  }

  /// Runs the CLI expecting failure with `status`; returns stderr.
  @discardableResult
  func fails(_ args: [String], status: Int32, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let r = try cluster.cairn(args, in: scratch)
    XCTAssertEqual(r.status, status, "cairn \(args.joined(separator: " ")): \(r.err)\(r.out)", file: file, line: line)
    XCTAssertFalse(r.err.isEmpty, "a failure must explain itself", file: file, line: line)
    XCTAssertEqual(r.err.split(separator: "\n").filter { $0.hasPrefix("cairn: error:") }.count <= 1, true, file: file, line: line)
    return r.err
  }

  func write(_ name: String, _ bytes: [UInt8]) throws -> String {
    let path = scratch + "/" + name
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }

  func read(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

  static func randomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    var out = [UInt8](repeating: 0, count: n)
    var i = 0
    while i < n {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      var v = state ^ (state >> 29)
      for _ in 0..<8 where i < n {
        out[i] = UInt8(truncatingIfNeeded: v)
        v >>= 8
        i += 1
      }
    }
    return out
  }
}
