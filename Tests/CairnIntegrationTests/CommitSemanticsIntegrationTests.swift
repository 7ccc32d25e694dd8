import CairnClient
import CairnCore
import CairnTestSupport
import Foundation
import XCTest

/// Commit semantics through the client library against real servers.
final class CommitSemanticsIntegrationTests: SharedClusterTestCase {
  func file(_ c: CairnClient, _ text: String) async throws -> NewEntry {
    let path = try write(UUID().uuidString, Array(text.utf8))
    let (manifest, _) = try await c.uploadFile(at: path, blockBytes: 4 << 20, replicas: 3)
    return .file(manifest, Attributes(mode: 0o100644, mtimeNanos: 0))
  }

  func testStrictCommitReportsConflictingPathsOverTheWire() async throws {
    let c = try cluster.client()
    let name = try VolumeName("strict")
    _ = try await c.createVolume(name)
    let a1 = try await file(c, "a1")
    let base = try await c.commit(name, changes: [.put(try VolumePath("/a"), a1)]).version
    _ = try await c.commit(name, changes: [.put(try VolumePath("/a"), try await file(c, "a2"))], baseVersion: base)
    do {
      _ = try await c.commit(
        name, changes: [.put(try VolumePath("/a"), try await file(c, "a3"))], baseVersion: base, mode: .strict)
      XCTFail("strict commit should conflict")
    } catch let error as CairnError {
      XCTAssertEqual(error.code, .conflict)
      XCTAssertEqual(error.details, ["/a"])
    }
  }

  func testRetriedCommitWithSameKeyAppliesOnce() async throws {
    let c = try cluster.client()
    let name = try VolumeName("idem")
    _ = try await c.createVolume(name)
    let entry = try await file(c, "once")
    let first = try await c.commit(name, changes: [.put(try VolumeVersionPath.p, entry)], idempotencyKey: "k-1")
    let again = try await c.commit(name, changes: [.put(try VolumeVersionPath.p, entry)], idempotencyKey: "k-1")
    XCTAssertEqual(first.version, again.version)
    XCTAssertTrue(again.wasDuplicate)
    let head = try await c.volume(name).headVersion
    XCTAssertEqual(head, first.version)
  }

  func testCommitOfBlockNobodyStoredIsRefused() async throws {
    let c = try cluster.client()
    let name = try VolumeName("phantom")
    _ = try await c.createVolume(name)
    let fake = Manifest(blocks: [BlockRef(address: BlockAddress.of(Array("never stored".utf8)), length: 12)])
    do {
      _ = try await c.commit(
        name, changes: [.put(try VolumePath("/p"), .file(fake, Attributes(mode: 0o100644, mtimeNanos: 0)))])
      XCTFail("commit should be refused")
    } catch let error as CairnError {
      XCTAssertEqual(error.code, .missingBlocks)
    }
  }
}

enum VolumeVersionPath {
  static var p: VolumePath { get throws { try VolumePath("/p") } }
}
