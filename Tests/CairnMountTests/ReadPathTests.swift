import Foundation
import XCTest

/// The mount's read path never returns wrong bytes: a corrupt replica is skipped for a good one,
/// and with no good copy left the read fails with EIO.
final class ReadPathTests: MountTestCase {
  func blockFiles(chunk index: Int) -> [String] {
    let root = cluster.directory + "/chunk-\(index)/blocks/blocks"
    let all = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
    return all.map { root + "/" + $0 }.filter {
      var isDir: ObjCBool = false
      return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && !isDir.boolValue
    }
  }

  func corrupt(_ path: String) throws {
    let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    let size = try handle.seekToEnd()
    try handle.seek(toOffset: size / 2)
    let byte = try handle.read(upToCount: 1) ?? Data([0])
    try handle.seek(toOffset: size / 2)
    try handle.write(contentsOf: Data([byte[0] ^ 0xFF]))
  }

  func testCorruptReplicasAreSkippedAndNoGoodCopyMeansEIO() throws {
    let writer = try mount()
    let sum = try sh(
      "python3 -c \"import random; random.seed(3); open('f','wb').write(random.randbytes(200000))\" && sha256sum f | cut -c1-64",
      in: writer.mountpoint)
    XCTAssertEqual(try unmount(writer), 0)
    for chunk in 1...2 { for file in blockFiles(chunk: chunk) { try corrupt(file) } }
    let reader = try mount(name: "reader")
    XCTAssertEqual(try sh("sha256sum f | cut -c1-64", in: reader.mountpoint), sum, "read from the one good replica")
    for file in blockFiles(chunk: 3) { try corrupt(file) }
    let last = try mount(name: "last")
    let r = Spawn.run("/bin/cat", [last.path("f")])
    XCTAssertNotEqual(r.status, 0)
    XCTAssertTrue(r.err.contains("Input/output error"), r.err)
    XCTAssertTrue(r.out.isEmpty, "no bytes of a block that failed verification")
  }
}
