import Foundation
import XCTest

/// Shell-level operations inside a mount give the same tree as on a local disk, before and after
/// commit, and the committed version reads back the same from a fresh mount.
final class ShellOperationsTests: MountTestCase {
  static let script = """
    mkdir -p a/b/c deep/er/still
    printf 'hello\\n' > a/hello.txt
    printf 'world\\n' >> a/hello.txt
    python3 -c "import random; random.seed(7); open('a/b/random.bin','wb').write(random.randbytes(300000))"
    cp -r a copy
    dd if=/dev/zero of=zeros bs=64k count=20 status=none
    dd if=a/b/random.bin of=zeros bs=1000 seek=3 conv=notrunc status=none
    mv copy/hello.txt copy/renamed.txt
    mv copy moved
    ln -s ../a/hello.txt deep/link
    ln -s missing-target dangling
    truncate -s 5000000 sparse
    printf 'tail' >> sparse
    truncate -s 123 a/b/random.bin
    truncate -s 0 a/hello.txt
    printf 'again\\n' >> a/hello.txt
    chmod 600 a/hello.txt
    chmod 750 deep
    rm -r deep/er
    python3 -c "open('tmp.ckpt','w').write('x'*1000); import os; os.replace('tmp.ckpt','ckpt')"
    python3 -c "open('tmp.ckpt','w').write('y'*10); import os; os.replace('tmp.ckpt','ckpt')"
    mkdir -p gone/inner && touch gone/inner/f && rm -rf gone
    """

  func testShellOperationsMatchALocalDirectory() throws {
    let m = try mount()
    let local = scratch + "/local"
    try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
    try sh(Self.script, in: local)
    try sh(Self.script, in: m.mountpoint)
    let expected = try Self.treeDigest(local)
    XCTAssertEqual(try Self.treeDigest(m.mountpoint), expected, "before commit")
    try cairnOK(["commit", m.mountpoint, "-m", "shell"])
    XCTAssertEqual(try Self.treeDigest(m.mountpoint), expected, "after commit (the mount now shows the committed version)")
    XCTAssertEqual(try unmount(m), 0)
    let fresh = try mount(name: "fresh")
    XCTAssertEqual(try Self.treeDigest(fresh.mountpoint), expected, "a fresh mount of the committed version")
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/ckpt", "-"]), String(repeating: "y", count: 10))
  }

  func testErrnoValues() throws {
    let m = try mount()
    let out = try sh(
      """
      python3 - <<'PY'
      import os, errno
      def e(f):
          try: f(); return 'ok'
          except OSError as x: return errno.errorcode[x.errno]
      os.mkdir('d'); open('d/f','w').write('x'); open('file','w').write('y'); os.mkdir('empty')
      print(e(lambda: os.mkdir('d')))
      print(e(lambda: os.rmdir('d')))
      print(e(lambda: os.unlink('d')))
      print(e(lambda: os.rmdir('file')))
      print(e(lambda: os.stat('nope')))
      print(e(lambda: open('file/x','w')))
      print(e(lambda: open('n'*256,'w')))
      print(e(lambda: os.link('file','hard')))
      print(e(lambda: os.rename('file','empty')))
      print(e(lambda: os.rename('empty','file')))
      print(e(lambda: os.rename('empty','d')))
      print(e(lambda: os.rename('d','d/sub')))
      print(e(lambda: os.open('file', os.O_CREAT|os.O_EXCL|os.O_WRONLY)))
      PY
      """, in: m.mountpoint)
    XCTAssertEqual(
      out.split(separator: "\n"),
      ["EEXIST", "ENOTEMPTY", "EISDIR", "ENOTDIR", "ENOENT", "ENOTDIR", "ENAMETOOLONG", "EPERM", "EISDIR", "ENOTDIR",
       "ENOTEMPTY", "EINVAL", "EEXIST"])
  }

  func testReadOnlyMountRefusesWritesWithEROFS() throws {
    let m = try mount(extra: ["--read-only"])
    let r = Spawn.run("/bin/sh", ["-c", "echo x > f"], cwd: m.mountpoint)
    XCTAssertNotEqual(r.status, 0)
    XCTAssertTrue(r.err.contains("Read-only"), r.err)
  }

  func testLargeFileRoundTripAndPartialOverwriteStagesOneBlock() throws {
    let big = ProcessInfo.processInfo.environment["CAIRN_BIG_TESTS"] == "1"
    let mib = big ? 1100 : 64
    let m = try mount()
    let sum = try sh(
      "head -c \(mib)M /dev/urandom | tee big | sha256sum | cut -c1-64", in: m.mountpoint)
    XCTAssertEqual(try sh("sha256sum big | cut -c1-64", in: m.mountpoint), sum)
    try cairnOK(["commit", m.mountpoint])
    // Overwrite a few bytes in the middle: only that block is staged and uploaded.
    try sh("printf 'PATCH' | dd of=big bs=1 seek=\(mib / 2 << 20) conv=notrunc status=none", in: m.mountpoint)
    let status = try cairnOK(["status", m.mountpoint, "--json"])
    XCTAssertTrue(status.contains("\"stagedBytes\" : \(4 << 20)"), status)
    let patched = try sh("sha256sum big | cut -c1-64", in: m.mountpoint)
    try cairnOK(["commit", m.mountpoint])
    let other = try mount(name: "other")
    XCTAssertEqual(try sh("sha256sum big | cut -c1-64", in: other.mountpoint), patched)
    XCTAssertNotEqual(patched, sum)
  }
}
