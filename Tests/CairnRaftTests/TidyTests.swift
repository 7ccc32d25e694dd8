import Foundation
import XCTest

/// Keeps the Raft targets in the house style (TigerBeetle's "tidy" test): short files, no
/// `try!`, no `print` or Foundation in the libraries, no bare TODOs.
final class TidyTests: XCTestCase {
  private static let maximumLines = 400

  func testRaftAndSimulationSourcesFollowTheStyleRules() throws {
    let root = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var checked = 0
    for target in ["CairnRaft", "CairnSimulation"] {
      let folder = root.appendingPathComponent("Sources").appendingPathComponent(target)
      let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        .filter { $0.hasSuffix(".swift") }.sorted()
      for file in files {
        let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        checked += 1
        XCTAssertLessThanOrEqual(lines.count, Self.maximumLines, "\(target)/\(file) is too long")
        for (number, line) in lines.enumerated() {
          let place = "\(target)/\(file):\(number + 1)"
          XCTAssertFalse(line.contains("try!"), "\(place): try!")
          XCTAssertFalse(line.contains("print("), "\(place): print in a library")
          XCTAssertFalse(line.contains("import Foundation"), "\(place): Foundation in a pure core")
          if line.contains("TODO") {
            XCTAssertTrue(line.contains("TODO("), "\(place): TODO without an explanation")
          }
          if target == "CairnRaft", line.hasPrefix("import ") {
            XCTAssertEqual(line, "import Synchronization", "\(place): CairnRaft imports nothing")
          }
        }
      }
    }
    XCTAssertGreaterThan(checked, 20)
  }
}
