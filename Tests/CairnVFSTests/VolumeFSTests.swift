import CairnCore
import CairnVFS
import Foundation
import Logging
import XCTest

/// VolumeFS against the in-memory backend: staging, block-granular writes, journal recovery,
/// commit and reload rules, and error codes.
final class VolumeFSTests: TemporaryDirectoryTestCase {

  func open(_ backend: FakeBackend, readOnly: Bool = false) throws -> VolumeFS {
    var config = MountConfiguration(volume: try VolumeName("fake"), isReadOnly: readOnly, cacheDirectory: directory)
    config.diskCacheBytes = 0
    config.operationTimeoutSeconds = 5
    return try VolumeFS(configuration: config, backend: backend, logger: Logger(label: "test"))
  }

  func write(_ fs: VolumeFS, _ name: String, _ bytes: [UInt8], at offset: UInt64 = 0, parent: UInt64 = 1) throws {
    let (_, h) = try fs.create(parent: parent, name: name, mode: 0o644, flags: O_WRONLY, caller: me)
    defer { fs.release(h) }
    _ = try bytes.withUnsafeBytes { try fs.write(handle: h, offset: offset, data: $0) }
  }

  func read(_ fs: VolumeFS, _ name: String, parent: UInt64 = 1) throws -> [UInt8] {
    let a = try fs.lookup(parent: parent, name: name)
    let h = try fs.open(a.inode, flags: O_RDONLY)
    defer { fs.release(h) }
    var out: [UInt8] = []
    while true {
      let chunk = try fs.read(handle: h, offset: UInt64(out.count), count: 100_000)
      if chunk.isEmpty { return out }
      out += chunk
    }
  }

  static func pattern(_ n: Int, seed: UInt8 = 1) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 * 31 + Int(seed)) } }

  func testWritesAreVisibleAtOnceAndCommitPublishesThem() throws {
    let backend = FakeBackend()
    let fs = try open(backend)
    let data = Self.pattern(150_000)
    try write(fs, "f", data)
    XCTAssertEqual(try read(fs, "f"), data)
    XCTAssertEqual(backend.head.count, 0, "nothing is published before commit")
    XCTAssertEqual(try fs.commit(), 2)
    XCTAssertEqual(try backend.content("/f"), data)
    XCTAssertFalse(fs.hasStagedChanges)
    XCTAssertEqual(try read(fs, "f"), data, "the mount is rebased on the committed version")
  }

  func testPartialOverwriteStagesAndUploadsOnlyTheTouchedBlock() throws {
    let backend = FakeBackend()
    var data = Self.pattern(10 * 65536 + 100)
    try backend.seed("/big", data)
    let fs = try open(backend)
    let a = try fs.lookup(parent: root, name: "big")
    let h = try fs.open(a.inode, flags: O_WRONLY)
    let patch: [UInt8] = Array("PATCH".utf8)
    _ = try patch.withUnsafeBytes { try fs.write(handle: h, offset: UInt64(3 * 65536 + 10), data: $0) }
    fs.release(h)
    data.replaceSubrange((3 * 65536 + 10)..<(3 * 65536 + 15), with: patch)
    XCTAssertEqual(fs.status().stagedBytes, 65536)
    XCTAssertEqual(try read(fs, "big"), data)
    let before = backend.uploadedBlocks
    try fs.commit()
    XCTAssertEqual(backend.uploadedBlocks - before, 1)
    XCTAssertEqual(try backend.content("/big"), data)
  }

  func testTruncateAndSparseExtensionReadAsZeros() throws {
    let backend = FakeBackend()
    try backend.seed("/t", Self.pattern(200_000))
    let fs = try open(backend)
    let a = try fs.lookup(parent: root, name: "t")
    _ = try fs.setattr(a.inode, AttributeChanges(sizeBytes: 70_000))
    _ = try fs.setattr(a.inode, AttributeChanges(sizeBytes: 300_000))
    let expected = Array(Self.pattern(200_000).prefix(70_000)) + [UInt8](repeating: 0, count: 230_000)
    XCTAssertEqual(try read(fs, "t"), expected)
    try fs.commit()
    XCTAssertEqual(try backend.content("/t"), expected)
    XCTAssertTrue(backend.head[try VolumePath("/t")]!.manifest.blocks.last!.isHole, "zero blocks become holes")
  }

  func testStagedChangesSurviveACrashAndAreCommittedByTheNextMount() throws {
    let backend = FakeBackend()
    try backend.seed("/keep", Self.pattern(1000))
    do {
      let fs = try open(backend)
      let d = try fs.mkdir(parent: root, name: "dir", mode: 0o755, caller: me)
      try write(fs, "inner", Self.pattern(70_000, seed: 9), parent: d.inode)
      try write(fs, "tmp", Self.pattern(10, seed: 3))
      try fs.rename(parent: root, name: "tmp", newParent: root, newName: "keep", flags: [])
      _ = try fs.symlink(parent: root, name: "link", target: "dir/inner", caller: me)
      // The daemon dies here: no commit, no clean shutdown.
    }
    let fs = try open(backend)
    XCTAssertTrue(fs.hasStagedChanges)
    let d = try fs.lookup(parent: root, name: "dir")
    XCTAssertEqual(try read(fs, "inner", parent: d.inode), Self.pattern(70_000, seed: 9))
    XCTAssertEqual(try read(fs, "keep"), Self.pattern(10, seed: 3))
    try fs.commit()
    XCTAssertEqual(try backend.content("/dir/inner"), Self.pattern(70_000, seed: 9))
    XCTAssertEqual(try backend.content("/keep"), Self.pattern(10, seed: 3))
    XCTAssertEqual(backend.head[try VolumePath("/link")]?.symlinkTarget, "dir/inner")
  }

  func testNamespaceErrors() throws {
    let fs = try open(FakeBackend())
    let d = try fs.mkdir(parent: root, name: "d", mode: 0o755, caller: me)
    try write(fs, "x", [1], parent: d.inode)
    try write(fs, "f", [2])
    func code(_ body: () throws -> Void) -> VFSError.Code? {
      do {
        try body()
        return nil
      } catch let e as VFSError { return e.code } catch { return .io }
    }
    XCTAssertEqual(code { _ = try fs.mkdir(parent: self.root, name: "d", mode: 0o755, caller: self.me) }, .exists)
    XCTAssertEqual(code { try fs.rmdir(parent: self.root, name: "d") }, .notEmpty)
    XCTAssertEqual(code { try fs.unlink(parent: self.root, name: "d") }, .isADirectory)
    XCTAssertEqual(code { try fs.rmdir(parent: self.root, name: "f") }, .notADirectory)
    XCTAssertEqual(code { _ = try fs.lookup(parent: self.root, name: "nope") }, .notFound)
    XCTAssertEqual(code { _ = try fs.lookup(parent: self.root, name: String(repeating: "n", count: 256)) }, .nameTooLong)
    XCTAssertEqual(code { try fs.rename(parent: self.root, name: "f", newParent: self.root, newName: "d", flags: []) }, .isADirectory)
    XCTAssertEqual(code { try fs.rename(parent: self.root, name: "d", newParent: d.inode, newName: "sub", flags: []) }, .invalid)
    XCTAssertEqual(code { try fs.rename(parent: self.root, name: "f", newParent: self.root, newName: "d", flags: .exchange) }, .invalid)
    try write(fs, "g", [3])
    XCTAssertEqual(code { try fs.rename(parent: self.root, name: "g", newParent: self.root, newName: "f", flags: .noReplace) }, .exists)
    XCTAssertNil(code { try fs.rename(parent: self.root, name: "g", newParent: self.root, newName: "f", flags: []) })
    XCTAssertEqual(try read(fs, "f"), [3])
    XCTAssertEqual(code { _ = try fs.link(2, newParent: self.root, newName: "h") }, .notPermitted)
    XCTAssertEqual(code { _ = try fs.mkdir(parent: self.root, name: ".cairn", mode: 0o755, caller: self.me) }, .notPermitted)
  }

  func testReadOnlyMountRefusesWrites() throws {
    let fs = try open(FakeBackend(), readOnly: true)
    XCTAssertThrowsError(try fs.create(parent: root, name: "f", mode: 0o644, flags: O_WRONLY, caller: me)) {
      XCTAssertEqual(($0 as? VFSError)?.code, .readOnly)
    }
  }

  func testCorruptBlockFailsTheReadInsteadOfReturningWrongBytes() throws {
    let backend = FakeBackend()
    try backend.seed("/c", Self.pattern(1000))
    backend.corrupt = backend.head[try VolumePath("/c")]!.manifest.addresses
    let fs = try open(backend)
    XCTAssertThrowsError(try read(fs, "c")) { XCTAssertEqual(($0 as? VFSError)?.code, .io) }
  }

  func testDamagedDiskCacheIsDetectedAndRefetched() throws {
    let backend = FakeBackend()
    let data = Self.pattern(150_000, seed: 5)
    try backend.seed("/c", data)
    var config = MountConfiguration(volume: try VolumeName("fake"), cacheDirectory: directory)
    config.memoryCacheBytes = 0
    config.operationTimeoutSeconds = 5
    let fs = try VolumeFS(configuration: config, backend: backend, logger: Logger(label: "test"))
    XCTAssertEqual(try read(fs, "c"), data)
    let cached = try FileManager.default.contentsOfDirectory(atPath: directory + "/blocks").filter { !$0.contains(".") }
    XCTAssertFalse(cached.isEmpty, "blocks were cached on disk")
    for name in cached {
      let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: directory + "/blocks/" + name))
      try handle.seek(toOffset: 100)
      try handle.write(contentsOf: Data([0xAA, 0xBB]))
      try handle.close()
    }
    XCTAssertEqual(try read(fs, "c"), data, "damaged cache chunks are refetched, never returned")
  }

  func testReloadKeepsStagedChangesOnTopAndOpenHandlesKeepTheirVersion() throws {
    let backend = FakeBackend()
    try backend.seed("/shared", Array("v1".utf8))
    let fs = try open(backend)
    let a = try fs.lookup(parent: root, name: "shared")
    let old = try fs.open(a.inode, flags: O_RDONLY)
    try write(fs, "mine", Array("local".utf8))
    try backend.seed("/shared", Array("v2".utf8))
    try backend.seed("/theirs", Array("t".utf8))
    XCTAssertEqual(try fs.reload(), 4)
    XCTAssertEqual(try read(fs, "shared"), Array("v2".utf8))
    XCTAssertEqual(try read(fs, "theirs"), Array("t".utf8))
    XCTAssertEqual(try read(fs, "mine"), Array("local".utf8))
    XCTAssertEqual(try fs.read(handle: old, offset: 0, count: 10), Array("v1".utf8))
    fs.release(old)
  }

  func testStrictReloadListsConflicts() throws {
    let backend = FakeBackend()
    let fs = try open(backend)
    try write(fs, "same", [1])
    try backend.seed("/same", [2])
    XCTAssertThrowsError(try fs.reload(mode: .strict)) { error in
      XCTAssertEqual((error as? VFSError)?.code, .conflict)
      XCTAssertEqual((error as? VFSError)?.details, ["/same"])
    }
  }

  func testFailedCommitKeepsChangesStagedAndIsReported() throws {
    let backend = FakeBackend()
    let fs = try open(backend)
    try write(fs, "f", [1, 2, 3])
    backend.isUnavailable = true
    XCTAssertThrowsError(try fs.commit())
    XCTAssertTrue(fs.hasStagedChanges)
    XCTAssertNotNil(fs.status().lastCommitError)
    backend.isUnavailable = false
    try fs.commit()
    XCTAssertNil(fs.status().lastCommitError)
    XCTAssertEqual(try backend.content("/f"), [1, 2, 3])
  }
}
