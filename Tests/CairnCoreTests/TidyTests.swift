import Foundation
import XCTest

/// Machines keep the style (TigerBeetle's tidy test): no `try!`, no `print` in libraries, no bare
/// TODOs, no source file past 600 lines.
final class TidyTests: XCTestCase {
  var sourcesRoot: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Sources")
  }

  func swiftFiles() -> [URL] {
    let e = FileManager.default.enumerator(at: sourcesRoot, includingPropertiesForKeys: nil)
    return (e?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "swift" }
  }

  func testSourcesFollowTheHouseRules() throws {
    let files = swiftFiles()
    XCTAssertFalse(files.isEmpty, "no sources found under \(sourcesRoot.path)")
    for file in files {
      let text = try String(contentsOf: file, encoding: .utf8)
      let name = file.path.replacingOccurrences(of: sourcesRoot.path + "/", with: "")
      let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
      XCTAssertLessThanOrEqual(lines.count, 600, "\(name) has \(lines.count) lines: split it by job")
      for (i, line) in lines.enumerated() {
        let code = line.split(separator: "//", maxSplits: 1).first.map(String.init) ?? ""
        XCTAssertFalse(code.contains("try!"), "\(name):\(i + 1) uses try!")
        if !name.hasPrefix("CairnCLI/") && !name.hasPrefix("cairn/") {
          XCTAssertFalse(
            code.range(of: #"(^|[^A-Za-z_.])print\("#, options: .regularExpression) != nil, "\(name):\(i + 1) prints from a library")
        }
        if line.contains("TODO") && !line.contains("TODO(") {
          XCTFail("\(name):\(i + 1) has a bare TODO; say why and what, e.g. TODO(issue 6): …")
        }
      }
    }
  }
}
