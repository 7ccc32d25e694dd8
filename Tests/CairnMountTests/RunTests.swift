import Foundation
import XCTest

/// `cairn run`: a private mount namespace, commit on exit, exit status propagation.
final class RunTests: MountTestCase {
  func testRunCommitsOnExitAndPropagatesExitStatus() throws {
    let path = scratch + "/vol"
    let ok = cluster.cairn([
      "run", "-v", "demo:\(path)", "--", "python3", "-c", "open('\(path)/ckpt','w').write('x'*10**7)",
    ])
    XCTAssertEqual(ok.status, 0, ok.err)
    XCTAssertFalse(Self.isMounted(path), "the mount lived in the command's namespace only")
    let ls = try cairnOK(["volume", "ls", "demo", "/"])
    XCTAssertTrue(ls.contains("/ckpt"), ls)
    let failing = cluster.cairn(["run", "-v", "demo:\(path)", "--", "sh", "-c", "echo partial > \(path)/p; exit 7"])
    XCTAssertEqual(failing.status, 7, failing.err)
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/p", "-"]), "partial\n", "committed even when the command fails")
    let missing = cluster.cairn(["run", "-v", "demo:\(path)", "--", "/no/such/program"])
    XCTAssertEqual(missing.status, 127)
  }

  func testRunReportsAFailedFinalCommitWithItsOwnStatus() throws {
    let path = scratch + "/vol"
    // The metadata server dies while the command runs: the final commit cannot succeed.
    let r = cluster.cairn([
      "run", "-v", "demo:\(path)", "--", "sh", "-c", "echo lost > \(path)/f; kill -9 \(cluster.pids()["meta"] ?? 0)",
    ])
    XCTAssertEqual(r.status, 75, r.err)
    XCTAssertTrue(r.err.contains("final commit failed"), r.err)
    // The staged changes were kept for a later mount; this test does not need them.
    if let range = r.err.range(of: #"changes kept in (\S+);"#, options: .regularExpression) {
      let kept = r.err[range].dropFirst("changes kept in ".count).dropLast()
      XCTAssertTrue(FileManager.default.fileExists(atPath: kept + "/staging/journal"), "kept: \(kept)")
      try? FileManager.default.removeItem(atPath: String(kept))
    } else {
      XCTFail("the message names the kept cache directory: \(r.err)")
    }
  }
}
