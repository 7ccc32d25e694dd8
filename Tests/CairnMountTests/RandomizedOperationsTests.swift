import Foundation
import XCTest

/// Applies one seeded random sequence of file operations to a mount and to a local directory and
/// compares the trees (and each operation's errno) after every commit. Reproduce a failure with
/// CAIRN_TEST_SEED=<seed>; CAIRN_RANDOM_OPS sets the length (default 2000).
final class RandomizedOperationsTests: MountTestCase {
  struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
  }

  func testRandomOperationsMatchALocalDirectory() throws {
    let env = ProcessInfo.processInfo.environment
    let seed = env["CAIRN_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1..<1_000_000)
    let count = env["CAIRN_RANDOM_OPS"].flatMap(Int.init) ?? 2000
    print("RandomizedOperationsTests seed: \(seed) (CAIRN_TEST_SEED=\(seed) reproduces), operations: \(count)")
    // Small blocks so that files span several blocks and partial-block paths are exercised.
    try cairnOK(["volume", "create", "rnd", "--block-size", "65536", "--replicas", "2"])
    var m = try mount("rnd")
    let local = scratch + "/local"
    try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
    var rng = SplitMix64(state: seed)
    let names = ["a", "b", "c", "d", "e"]
    func randomPath() -> String {
      (0..<Int.random(in: 1...3, using: &rng)).map { _ in names.randomElement(using: &rng)! }.joined(separator: "/")
    }
    func bytes(_ n: Int) -> [UInt8] {
      let fill = UInt8.random(in: 0...255, using: &rng)
      return (0..<n).map { i in i % 7 == 0 ? UInt8.random(in: 0...255, using: &rng) : fill }
    }
    for step in 0..<count {
      let op = Int.random(in: 0..<100, using: &rng)
      let p = randomPath()
      let q = randomPath()
      let size = [0, 1, 100, 65535, 65536, 65537, 200_000][Int.random(in: 0..<7, using: &rng)]
      let data = bytes(Int.random(in: 0...size, using: &rng))
      let offset = Int.random(in: 0...200_000, using: &rng)
      let mode = [0o600, 0o644, 0o755][Int.random(in: 0..<3, using: &rng)]
      var description = ""
      func both(_ f: (String) -> Int32) {
        errno = 0
        let r1 = f(m.mountpoint)
        let e1 = r1 < 0 ? errno : 0
        errno = 0
        let r2 = f(local)
        let e2 = r2 < 0 ? errno : 0
        XCTAssertEqual(e1, e2, "seed \(seed) step \(step) \(description): mount errno \(e1), local errno \(e2)")
      }
      switch op {
      case 0..<25:
        description = "write \(p) at \(offset) \(data.count) bytes"
        both { root in
          let fd = open(root + "/" + p, O_WRONLY | O_CREAT, 0o644)
          guard fd >= 0 else { return -1 }
          defer { close(fd) }
          return data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) } < 0 ? -1 : 0
        }
      case 25..<35:
        description = "append \(p) \(data.count) bytes"
        both { root in
          let fd = open(root + "/" + p, O_WRONLY | O_CREAT | O_APPEND, 0o644)
          guard fd >= 0 else { return -1 }
          defer { close(fd) }
          return data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } < 0 ? -1 : 0
        }
      case 35..<43:
        description = "truncate \(p) \(offset)"
        both { root in truncate(root + "/" + p, off_t(offset)) }
      case 43..<55:
        description = "mkdir \(p)"
        both { root in mkdir(root + "/" + p, 0o755) }
      case 55..<62:
        description = "rmdir \(p)"
        both { root in rmdir(root + "/" + p) }
      case 62..<70:
        description = "unlink \(p)"
        both { root in unlink(root + "/" + p) }
      case 70..<82:
        description = "rename \(p) \(q)"
        both { root in rename(root + "/" + p, root + "/" + q) }
      case 82..<87:
        description = "symlink \(p) -> \(q)"
        both { root in symlink(q, root + "/" + p) }
      case 87..<92:
        description = "chmod \(p) \(String(mode, radix: 8))"
        both { root in
          var st = stat()
          guard lstat(root + "/" + p, &st) == 0 else { return -1 }
          if st.st_mode & S_IFMT == S_IFLNK { return 0 }
          return chmod(root + "/" + p, mode_t(mode))
        }
      case 92..<96:
        description = "commit"
        try cairnOK(["commit", m.mountpoint, "-m", "step \(step)"])
        XCTAssertEqual(try Self.treeDigest(m.mountpoint), try Self.treeDigest(local), "seed \(seed) after commit at step \(step)")
      case 96..<99:
        description = "reload"
        try cairnOK(["reload", m.mountpoint])
      default:
        description = "remount"
        XCTAssertEqual(try unmount(m), 0, "seed \(seed) step \(step)")
        m = try mount("rnd", name: "mnt-\(step)")
        XCTAssertEqual(try Self.treeDigest(m.mountpoint), try Self.treeDigest(local), "seed \(seed) after remount at step \(step)")
      }
      if testRun?.failureCount ?? 0 > 0 {
        XCTFail("stopping at step \(step) (seed \(seed)): \(description)")
        return
      }
    }
    try cairnOK(["commit", m.mountpoint])
    XCTAssertEqual(try Self.treeDigest(m.mountpoint), try Self.treeDigest(local), "seed \(seed) at the end")
  }
}
