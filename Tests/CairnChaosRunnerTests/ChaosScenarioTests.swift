import CairnTestSupport
import Foundation
import XCTest

/// Short variants of incident scenarios through the built `cairn chaos run` (what `make test`
/// runs; `make chaos` runs every scenario at full length on both topologies). Each run starts
/// and stops its own cluster, mounts and proxies.
final class ChaosScenarioTests: XCTestCase {
  static var repository: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  override func setUpWithError() throws {
    try XCTSkipUnless(getuid() == 0, "chaos runs use FUSE mounts and loop devices: root only")
    try XCTSkipUnless(FileManager.default.fileExists(atPath: "/dev/fuse"), "no /dev/fuse")
  }

  /// Runs the scenario's short variant; returns the exit status and the report's summary.
  func run(_ scenario: String, topology: String) throws -> (status: Int32, summary: String) {
    let report = NSTemporaryDirectory() + "cairn-chaos-\(scenario)-\(topology)-\(UUID().uuidString.prefix(6))"
    defer { try? FileManager.default.removeItem(atPath: report) }
    let path = Self.repository.appendingPathComponent("scenarios/\(scenario).toml").path
    let result = try ProcessRunner.run(
      ClusterFixture.binary, ["chaos", "run", path, "--topology", topology, "--short", "--report", report])
    let summary = (try? String(contentsOfFile: report + "/summary.md", encoding: .utf8)) ?? "(no summary)\n\(result.err)"
    XCTAssertTrue(FileManager.default.fileExists(atPath: report + "/history.jsonl"), "no history written")
    XCTAssertTrue(FileManager.default.fileExists(atPath: report + "/ops.svg"), "no plot written")
    return (result.status, summary + "\n" + result.out)
  }

  func testGrayChunkServerPassesOnHA() throws {
    let r = try run("apr-2026-gray-chunk-server", topology: "ha")
    XCTAssertEqual(r.status, 0, r.summary)
  }

  func testCorrelatedFailurePassesOnHA() throws {
    let r = try run("jun-2025-correlated-failure", topology: "ha")
    XCTAssertEqual(r.status, 0, r.summary)
  }

  func testVolumesOutagePassesOnHA() throws {
    let r = try run("may-2026-volumes-outage", topology: "ha")
    XCTAssertEqual(r.status, 0, r.summary)
  }

  func testMountStormFailsOnSPOF() throws {
    let r = try run("apr-2026-mount-storm", topology: "spof")
    XCTAssertEqual(r.status, 1, "the single-point-of-failure topology should fail its deadlines:\n\(r.summary)")
    XCTAssertTrue(r.summary.contains("**FAIL** availability of mount"), r.summary)
  }
}
