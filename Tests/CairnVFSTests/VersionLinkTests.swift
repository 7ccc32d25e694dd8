import CairnCore
import XCTest

@testable import CairnVFS

/// Chaos finding (degraded mode): after a mount moved to a newer version, the directories of
/// that version it had never listed were not in the node cache, so while the metadata service
/// was unreachable `/model` of the new version failed although it had not changed. A version
/// now links to the one the mount moved from, with the directories that changed.
final class VersionLinkTests: TemporaryDirectoryTestCase {
  func info() throws -> VolumeInfo {
    VolumeInfo(
      name: try VolumeName("v"), id: 7, headVersion: 9, oldestVersion: 1, settings: VolumeSettings(), createdNanos: 0,
      updatedNanos: 0, fileCount: 0, totalBytes: 0)
  }

  func entry(_ path: String, inode: UInt64) throws -> DirectoryEntry {
    DirectoryEntry(
      path: try VolumePath(path), entry: Entry(kind: .directory, inode: inode, attributes: Attributes(mode: 0o40755, mtimeNanos: 1)),
      modifiedInVersion: 1)
  }

  func testUnchangedDirectoriesOfALinkedVersionAreServedFromTheOlderOne() throws {
    let cache = try MetadataCache(directory: directory + "/c")
    let info = try info()
    let model = [try entry("/model/weights.bin", inode: 3)]
    let ckpt = [try entry("/ckpt/a.bin", inode: 4)]
    let deep = [try entry("/ckpt/sub/x", inode: 5)]
    cache.saveListing(model, volume: info, version: 5, path: try VolumePath("/model"))
    cache.saveListing(ckpt, volume: info, version: 5, path: try VolumePath("/ckpt"))
    cache.saveListing(deep, volume: info, version: 5, path: try VolumePath("/ckpt/sub"))
    XCTAssertNil(cache.listing(volume: info, version: 6, path: try VolumePath("/model")), "before: not cached at 6")
    // 6 wrote /ckpt/b.bin; 7 renamed /ckpt/sub to /ckpt/sub2.
    cache.saveLink(
      volume: info, version: 6, base: 5,
      changedDirectories: MetadataCache.changedDirectories(MetadataCache.touchedPaths([.delete(try VolumePath("/ckpt/b.bin"), recursive: false)])))
    cache.saveLink(
      volume: info, version: 7, base: 6,
      changedDirectories: MetadataCache.changedDirectories(
        MetadataCache.touchedPaths([.rename(from: try VolumePath("/ckpt/sub"), to: try VolumePath("/ckpt/sub2"), replace: false)])))
    XCTAssertEqual(cache.listing(volume: info, version: 6, path: try VolumePath("/model")), model)
    XCTAssertEqual(cache.listing(volume: info, version: 7, path: try VolumePath("/model")), model, "through two links")
    XCTAssertNil(cache.listing(volume: info, version: 6, path: try VolumePath("/ckpt")), "changed in 6")
    XCTAssertNil(cache.listing(volume: info, version: 6, path: try VolumePath("/ckpt/sub")), "under a changed directory")
    XCTAssertNil(cache.listing(volume: info, version: 8, path: try VolumePath("/model")), "8 has no link")
    // A change of the root (a top-level entry) invalidates everything below it.
    cache.saveLink(volume: info, version: 8, base: 7, changedDirectories: [try VolumePath("/new")].reduce(into: []) { $0.insert($1.parent) })
    XCTAssertNil(cache.listing(volume: info, version: 8, path: try VolumePath("/model")))
  }

  func testANewMountPrefersAVersionWhoseDirectoriesCanBeFound() throws {
    let cache = try MetadataCache(directory: directory + "/c")
    let info = try info()
    let root = [try entry("/model", inode: 2)]
    cache.saveListing(root, volume: info, version: 5, path: .root)
    cache.saveListing([try entry("/model/w", inode: 3)], volume: info, version: 5, path: try VolumePath("/model"))
    cache.saveListing(root, volume: info, version: 6, path: .root)
    cache.saveLink(volume: info, version: 6, base: 5, changedDirectories: [try VolumePath("/ckpt")])
    // 7: the mount moved there, listed its root, but the link could not be recorded.
    cache.saveListing(root, volume: info, version: 7, path: .root)
    XCTAssertEqual(cache.newestCachedVersion(of: info), 6)
  }
}
