import Foundation
import XCTest

/// Two mounts of one volume: commit, reload, open files across reload, concurrent commits,
/// crash recovery, and the control file inside the mount.
final class VersionTests: MountTestCase {
  func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

  func testCommitInOneMountReloadInTheOther() throws {
    let a = try mount()
    let b = try mount()
    try sh("mkdir -p data && echo v1 > data/x && head -c 5000000 /dev/urandom > data/blob", in: a.mountpoint)
    XCTAssertNil(read(b.path("data/x")), "b is pinned at the old version")
    try cairnOK(["commit", a.mountpoint])
    XCTAssertNil(read(b.path("data/x")), "b does not move until reloaded")
    try cairnOK(["reload", b.mountpoint])
    XCTAssertEqual(try Self.treeDigest(b.mountpoint), try Self.treeDigest(a.mountpoint))
    let status = try cairnOK(["status", b.mountpoint, "--json"])
    XCTAssertTrue(status.contains("\"pinnedVersion\" : 2"), status)
  }

  func testOpenFileKeepsItsVersionAcrossReload() throws {
    let a = try mount()
    try sh("echo old-content > f", in: a.mountpoint)
    try cairnOK(["commit", a.mountpoint])
    let b = try mount()
    let handle = try XCTUnwrap(FileHandle(forReadingAtPath: b.path("f")))
    defer { try? handle.close() }
    try sh("echo new-content > f", in: a.mountpoint)
    try cairnOK(["commit", a.mountpoint])
    try cairnOK(["reload", b.mountpoint])
    XCTAssertEqual(read(b.path("f")), "new-content\n", "a new open sees the reloaded version")
    XCTAssertEqual(String(decoding: handle.readDataToEndOfFile(), as: UTF8.self), "old-content\n")
  }

  func testStagedChangesStayVisibleAcrossReloadAndStrictReloadListsConflicts() throws {
    let a = try mount()
    let b = try mount()
    try sh("echo mine > mine && echo b-version > shared", in: b.mountpoint)
    try sh("echo theirs > theirs && echo a-version > shared", in: a.mountpoint)
    try cairnOK(["commit", a.mountpoint])
    let strict = cluster.cairn(["reload", "--strict", b.mountpoint])
    XCTAssertEqual(strict.status, 4, strict.err)
    XCTAssertTrue(strict.err.contains("/shared"), strict.err)
    try cairnOK(["reload", b.mountpoint])
    XCTAssertEqual(read(b.path("mine")), "mine\n")
    XCTAssertEqual(read(b.path("theirs")), "theirs\n")
    XCTAssertEqual(read(b.path("shared")), "b-version\n", "staged changes stay on top")
  }

  func testConcurrentCommitsMergeAndStrict() throws {
    let a = try mount()
    let b = try mount()
    try sh("echo from-a > a-file && echo a > same", in: a.mountpoint)
    try sh("echo from-b > b-file && echo b > same", in: b.mountpoint)
    try cairnOK(["commit", a.mountpoint])
    try cairnOK(["commit", b.mountpoint])  // merge: both land, last writer wins on /same
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/a-file", "-"]), "from-a\n")
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/b-file", "-"]), "from-b\n")
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/same", "-"]), "b\n")
    try cairnOK(["reload", a.mountpoint])
    try cairnOK(["reload", b.mountpoint])
    try sh("echo strict-a > same", in: a.mountpoint)
    try sh("echo strict-b > same", in: b.mountpoint)
    try cairnOK(["commit", "--strict", a.mountpoint])
    let refused = cluster.cairn(["commit", "--strict", b.mountpoint])
    XCTAssertEqual(refused.status, 4, "a strict commit over a concurrent change is refused: \(refused.err)")
    XCTAssertTrue(refused.err.contains("/same"), refused.err)
    XCTAssertTrue(try cairnOK(["status", b.mountpoint, "--json"]).contains("conflicts"), "status shows the failure")
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/same", "-"]), "strict-a\n")
  }

  func testKill9WithStagedDataThenRemountCommitsIt() throws {
    let a = try mount()
    try sh(
      "mkdir -p d && echo staged > d/f && head -c 9000000 /dev/urandom > d/blob && sha256sum d/blob | cut -c1-64 > /tmp/cairn-kill9-\(a.pid)",
      in: a.mountpoint)
    let sum = try String(contentsOfFile: "/tmp/cairn-kill9-\(a.pid)", encoding: .utf8)
    unlink("/tmp/cairn-kill9-\(a.pid)")
    kill(a.pid, SIGKILL)
    a.wait()
    Self.forceUnmount(a.mountpoint)
    XCTAssertNotEqual(cluster.cairn(["volume", "get", "demo", "/d/f", "-"]).status, 0, "nothing committed yet")
    let again = try mount(name: "again", cacheDirectory: a.cacheDirectory)
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/d/f", "-"]), "staged\n")
    XCTAssertEqual(try sh("sha256sum d/blob | cut -c1-64", in: again.mountpoint), sum)
  }

  func testControlFileInsideTheMountCommitsAndReloads() throws {
    let a = try mount()
    let b = try mount()
    try sh("echo inside > f && echo commit > .cairn/control", in: a.mountpoint)
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/f", "-"]), "inside\n")
    try sh("echo reload > .cairn/control && cat f", in: b.mountpoint)
    XCTAssertEqual(read(b.path("f")), "inside\n")
    XCTAssertTrue((read(b.path(".cairn/control")) ?? "").contains("\"pinnedVersion\" : 2"))
  }

  func testUnmountAndSigtermCommit() throws {
    let a = try mount()
    try sh("echo on-unmount > u", in: a.mountpoint)
    XCTAssertEqual(try unmount(a), 0)
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/u", "-"]), "on-unmount\n")
    let b = try mount(extra: ["--commit-interval", "1"])
    try sh("echo background > bg", in: b.mountpoint)
    try cluster.waitUntil("background commit", timeout: 20) {
      self.cluster.cairn(["volume", "get", "demo", "/bg", "-"]).out == "background\n"
    }
    try sh("echo on-sigterm > t", in: b.mountpoint)
    kill(b.pid, SIGTERM)
    XCTAssertEqual(b.wait(), 0)
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/t", "-"]), "on-sigterm\n")
  }

  func testUnmountOfABusyMountDoesNotUnmountTheNextMountOnThatPath() throws {
    let a = try mount(name: "same")
    try sh("echo a > f", in: a.mountpoint)
    let busy = open(a.path("f"), O_RDONLY)
    XCTAssertGreaterThanOrEqual(busy, 0)
    defer { close(busy) }
    let r = cluster.cairn(["unmount", a.mountpoint])
    XCTAssertEqual(r.status, 0, "a busy mount is detached lazily: \(r.err)")
    let b = try mount(name: "same")
    var byte: UInt8 = 0
    _ = Glibc.read(busy, &byte, 1)  // a request on the old, detached connection (may fail: ENOTCONN)
    XCTAssertEqual(a.wait(), 0)
    usleep(300_000)
    XCTAssertTrue(Self.isMounted(b.mountpoint), "the new mount on the same path stays mounted")
    XCTAssertEqual(read(b.path("f")), "a\n")
  }
}
