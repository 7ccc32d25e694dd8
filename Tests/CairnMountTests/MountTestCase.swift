import Foundation
import XCTest

/// A `cairn mount --foreground` daemon started by a test, logging to a file.
final class MountedVolume {
  let volume: String
  let mountpoint: String
  let cacheDirectory: String
  let pid: pid_t
  var exitStatus: Int32?
  var logPath: String { cacheDirectory + ".log" }

  init(volume: String, mountpoint: String, cacheDirectory: String, pid: pid_t) {
    self.volume = volume
    self.mountpoint = mountpoint
    self.cacheDirectory = cacheDirectory
    self.pid = pid
  }

  /// Waits for the daemon to exit and returns its status.
  @discardableResult
  func wait() -> Int32 {
    if let exitStatus { return exitStatus }
    let s = Spawn.wait(pid)
    exitStatus = s
    return s
  }

  var isRunning: Bool {
    guard exitStatus == nil else { return false }
    var status: Int32 = 0
    if waitpid(pid, &status, WNOHANG) == pid {
      exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
      return false
    }
    return true
  }
  func path(_ relative: String) -> String { mountpoint + "/" + relative }
  var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// Base of the mount tests: a real cluster per test, real FUSE mounts through the built `cairn`
/// binary, and a tearDown that always unmounts (`fusermount3 -u`, then `umount -l`), kills the
/// daemons it started and stops the cluster, even when the test failed.
class MountTestCase: XCTestCase {
  var cluster: TestCluster!
  var mounts: [MountedVolume] = []
  var scratch: String!
  /// Metadata servers of each test's cluster (a subclass may ask for a Raft group).
  class var metaServers: Int { 1 }

  override func setUpWithError() throws {
    try XCTSkipUnless(getuid() == 0, "FUSE mount tests need root")
    try XCTSkipUnless(FileManager.default.fileExists(atPath: "/dev/fuse"), "no /dev/fuse")
    scratch = NSTemporaryDirectory() + "cairn-mount-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    cluster = try TestCluster(chunkServers: 3, metaServers: Self.metaServers)
  }

  override func tearDown() {
    for m in mounts { Self.forceUnmount(m.mountpoint) }
    for m in mounts where m.isRunning {
      kill(m.pid, SIGKILL)
      m.wait()
    }
    for m in mounts { Self.forceUnmount(m.mountpoint) }
    mounts = []
    cluster?.stop()
    if let scratch { try? FileManager.default.removeItem(atPath: scratch) }
    super.tearDown()
  }

  static func isMounted(_ path: String) -> Bool {
    let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").contains { $0.split(separator: " ").count > 4 && $0.split(separator: " ")[4] == path }
  }

  static func forceUnmount(_ path: String) {
    guard isMounted(path) else { return }
    _ = Spawn.run("/usr/bin/fusermount3", ["-u", path])
    if isMounted(path) { _ = Spawn.run("/usr/bin/umount", ["-l", path]) }
  }

  /// Starts a mount daemon and waits until the volume is mounted.
  @discardableResult
  func mount(
    _ volume: String = "demo", name: String? = nil, cacheDirectory: String? = nil, extra: [String] = []
  ) throws -> MountedVolume {
    let mountpoint = scratch + "/" + (name ?? "mnt\(mounts.count)")
    try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
    let cache = cacheDirectory ?? scratch + "/cache-\(mounts.count)"
    // The node metadata cache (degraded mode) stays inside the test's scratch directory.
    let nodeCache = extra.contains("--metadata-cache-dir") ? [] : ["--metadata-cache-dir", scratch + "/node-cache"]
    let pid = Spawn.start(
      TestCluster.binary,
      ["mount", volume, mountpoint, "--foreground", "--cache-dir", cache, "--meta", cluster.metaAddresses] + nodeCache + extra,
      logPath: cache + ".log")
    let m = MountedVolume(volume: volume, mountpoint: mountpoint, cacheDirectory: cache, pid: pid)
    mounts.append(m)
    let deadline = Date().addingTimeInterval(30)
    while !Self.isMounted(mountpoint) {
      if !m.isRunning {
        XCTFail("mount daemon exited: \(m.log)")
        throw CocoaError(.fileReadUnknown)
      }
      guard Date() < deadline else {
        XCTFail("not mounted after 30 s: \(m.log)")
        throw CocoaError(.fileReadUnknown)
      }
      usleep(20_000)
    }
    return m
  }

  /// `cairn unmount`, then waits for the daemon to exit; returns its exit status.
  @discardableResult
  func unmount(_ m: MountedVolume) throws -> Int32 {
    let r = cluster.cairn(["unmount", m.mountpoint])
    XCTAssertEqual(r.status, 0, "unmount: \(r.err)")
    return m.wait()
  }

  /// Runs a shell script (bash -e) in `directory`; fails the test on a non-zero status.
  @discardableResult
  func sh(_ script: String, in directory: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let r = Spawn.run("/bin/bash", ["-e", "-o", "pipefail", "-c", script], cwd: directory)
    XCTAssertEqual(r.status, 0, "script failed in \(directory): \(r.err)", file: file, line: line)
    return r.out
  }

  @discardableResult
  func cairnOK(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let r = cluster.cairn(args)
    XCTAssertEqual(r.status, 0, "cairn \(args.joined(separator: " ")): \(r.err)", file: file, line: line)
    return r.out
  }

  /// A digest of a tree: one line per entry with kind, permission bits, size and content hash
  /// (or link target). `.cairn` at the top is skipped.
  static func treeDigest(_ root: String) throws -> [String] {
    let r = Spawn.run(
      "/usr/bin/python3",
      [
        "-c",
        """
        import os, sys, hashlib, stat
        root = sys.argv[1]
        out = []
        for d, dirs, files in os.walk(root):
            if d == root and '.cairn' in dirs: dirs.remove('.cairn')
            for n in sorted(dirs + files):
                p = os.path.join(d, n); st = os.lstat(p); rel = os.path.relpath(p, root)
                if stat.S_ISLNK(st.st_mode): out.append(f'{rel} link {os.readlink(p)}')
                elif stat.S_ISDIR(st.st_mode): out.append(f'{rel} dir {oct(st.st_mode & 0o777)}')
                else:
                    h = hashlib.sha256(open(p, 'rb').read()).hexdigest()[:16]
                    out.append(f'{rel} file {oct(st.st_mode & 0o777)} {st.st_size} {h}')
        print('\\n'.join(sorted(out)))
        """,
        root,
      ])
    guard r.status == 0 else { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: r.err]) }
    return r.out.split(separator: "\n").map(String.init)
  }
}
