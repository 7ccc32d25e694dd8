import CairnCore
import CairnVFS
import Foundation
import Logging
import XCTest

/// Degraded mode against the in-memory backend: the node metadata cache, connectivity
/// transitions, queued commits (order, idempotency, restart, conflicts) and the switch.
final class DegradedModeTests: TemporaryDirectoryTestCase {
  override var directoryPrefix: String { "cairn-degraded" }

  /// A mount in degraded mode with its own staging area `mount` and the shared node cache.
  func open(
    _ backend: FakeBackend, mount: String = "m0", version: UInt64? = nil, degraded: Bool = true, mode: CommitMode? = nil
  ) throws -> VolumeFS {
    var config = MountConfiguration(volume: try VolumeName("fake"), version: version, cacheDirectory: directory + "/" + mount)
    config.diskCacheBytes = 0
    config.operationTimeoutSeconds = 5
    config.isDegradedModeEnabled = degraded
    config.commitMode = mode
    let logger = Logger(label: "test")
    guard degraded else { return try VolumeFS(configuration: config, backend: backend, logger: logger) }
    let cache = try MetadataCache(directory: directory + "/node-cache")
    let caching = CachingBackend(inner: backend, cache: cache, volume: config.volume, logger: logger)
    return try VolumeFS(configuration: config, backend: caching, logger: logger)
  }

  func write(_ fs: VolumeFS, _ name: String, _ bytes: [UInt8], parent: UInt64 = 1) throws {
    let (_, h) = try fs.create(parent: parent, name: name, mode: 0o644, flags: O_WRONLY | O_TRUNC, caller: me)
    defer { fs.release(h) }
    _ = try bytes.withUnsafeBytes { try fs.write(handle: h, offset: 0, data: $0) }
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

  func names(_ fs: VolumeFS, _ id: UInt64) throws -> [String] {
    let h = try fs.opendir(id)
    defer { fs.releasedir(h) }
    var out: [String] = []
    try fs.readdir(handle: h, offset: 0, plus: false) { item in
      out.append(item.name)
      return true
    }
    return out.filter { $0 != "." && $0 != ".." }
  }

  static func bytes(_ n: Int, _ seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) } }

  // MARK: Pure parts

  func testConnectivityDegradesOnceAndBacksOffUntilAnAnswer() {
    var c = Connectivity()
    let t0 = Date(timeIntervalSince1970: 1000)
    XCTAssertTrue(c.mayTry(at: t0))
    XCTAssertTrue(c.failed("refused", at: t0), "the first failure starts a degraded period")
    XCTAssertEqual(c.degradedSince, t0)
    XCTAssertFalse(c.mayTry(at: t0.addingTimeInterval(0.1)), "calls fail fast during the backoff")
    XCTAssertTrue(c.mayTry(at: t0.addingTimeInterval(Connectivity.minProbeDelaySeconds)))
    XCTAssertFalse(c.failed("refused", at: t0.addingTimeInterval(1)), "later failures do not restart the period")
    XCTAssertEqual(c.degradedSince, t0)
    XCTAssertFalse(c.mayTry(at: t0.addingTimeInterval(1.5)), "the backoff doubled")
    for k in 2..<20 { c.failed("refused", at: t0.addingTimeInterval(Double(k))) }
    XCTAssertTrue(c.mayTry(at: t0.addingTimeInterval(19 + Connectivity.maxProbeDelaySeconds)), "the backoff is bounded")
    c.willTry(at: t0.addingTimeInterval(30))
    XCTAssertFalse(c.mayTry(at: t0.addingTimeInterval(30.1)), "one attempt at a time")
    XCTAssertTrue(c.succeeded(at: t0.addingTimeInterval(31)))
    XCTAssertTrue(c.isConnected)
    XCTAssertEqual(c.lastError, "refused", "the last error stays visible after recovery")
    XCTAssertTrue(Connectivity.isUnreachable(.unavailable))
    XCTAssertFalse(Connectivity.isUnreachable(.conflict))
  }

  func testMetadataCacheRoundTripsAndTreatsADamagedFileAsAMiss() throws {
    let cache = try MetadataCache(directory: directory + "/c")
    let info = VolumeInfo(
      name: try VolumeName("v"), id: 7, headVersion: 3, oldestVersion: 1, settings: VolumeSettings(), createdNanos: 0,
      updatedNanos: 0, fileCount: 0, totalBytes: 0)
    cache.saveVolume(info)
    let entry = DirectoryEntry(
      path: try VolumePath("/a"), entry: Entry(kind: .directory, inode: 9, attributes: Attributes(mode: 0o40755, mtimeNanos: 1)),
      modifiedInVersion: 2)
    cache.saveListing([entry], volume: info, version: 3, path: .root)
    XCTAssertEqual(cache.volume(named: "v"), info)
    XCTAssertEqual(cache.listing(volume: info, version: 3, path: .root), [entry])
    XCTAssertNil(cache.listing(volume: info, version: 2, path: .root), "another version is another listing")
    XCTAssertEqual(cache.newestCachedVersion(of: info), 3)
    let file = directory + "/c/volumes/v/7-0/3/" + BlockAddress.of(Array("/".utf8)).hex
    var bytes = try XCTUnwrap(FileManager.default.contents(atPath: file))
    bytes[bytes.count - 1] ^= 0xff
    try bytes.write(to: URL(fileURLWithPath: file))
    XCTAssertNil(cache.listing(volume: info, version: 3, path: .root), "a damaged listing is never returned")
    XCTAssertFalse(FileManager.default.fileExists(atPath: file), "and it is removed")
  }

  func testVolumesOfTwoClustersWithTheSameIdDoNotShareListings() throws {
    let cache = try MetadataCache(directory: directory + "/c")
    func info(created: Int64) throws -> VolumeInfo {
      VolumeInfo(
        name: try VolumeName("demo"), id: 1, headVersion: 2, oldestVersion: 1, settings: VolumeSettings(),
        createdNanos: created, updatedNanos: 0, fileCount: 0, totalBytes: 0)
    }
    cache.saveListing([], volume: try info(created: 1), version: 2, path: .root)
    XCTAssertNotNil(cache.listing(volume: try info(created: 1), version: 2, path: .root))
    XCTAssertNil(cache.listing(volume: try info(created: 2), version: 2, path: .root), "another cluster's 'demo'")
  }

  func testMetadataCacheEvictsOldVersionsButNotPinnedOnes() throws {
    let cache = try MetadataCache(directory: directory + "/c", limitBytes: 64 << 10)
    let info = VolumeInfo(
      name: try VolumeName("v"), id: 1, headVersion: 30, oldestVersion: 1, settings: VolumeSettings(), createdNanos: 0,
      updatedNanos: 0, fileCount: 0, totalBytes: 0)
    let entries = try (0..<100).map { i in
      DirectoryEntry(
        path: try VolumePath("/file-\(i)"), entry: Entry(kind: .file, inode: UInt64(i), attributes: Attributes(mode: 0o100644, mtimeNanos: 1)),
        modifiedInVersion: 1)
    }
    cache.pin(volume: info, version: 1)
    for v in UInt64(1)...30 { cache.saveListing(entries, volume: info, version: v, path: .root) }
    XCTAssertNotNil(cache.listing(volume: info, version: 1, path: .root), "the pinned version stays")
    XCTAssertNotNil(cache.listing(volume: info, version: 30, path: .root), "the newest stays")
    let kept = (UInt64(1)...30).filter { cache.listing(volume: info, version: $0, path: .root) != nil }
    XCTAssertLessThan(kept.count, 30, "older versions were evicted to respect the bound")
  }

  // MARK: Reads

  func testRunningMountServesWhatItHasSeenAndFailsClearlyOnTheRest() throws {
    let backend = FakeBackend()
    try backend.seed("/seen/a", Self.bytes(100_000, 1))
    try backend.seed("/unseen/b", Self.bytes(10, 2))
    let fs = try open(backend)
    let seen = try fs.lookup(parent: root, name: "seen")
    XCTAssertTrue(try read(fs, "a", parent: seen.inode) == Self.bytes(100_000, 1))
    let unseen = try fs.lookup(parent: root, name: "unseen")
    backend.isUnavailable = true
    XCTAssertEqual(try names(fs, root).sorted(), ["seen", "unseen"])
    XCTAssertTrue(try read(fs, "a", parent: seen.inode) == Self.bytes(100_000, 1), "files it has read keep reading")
    XCTAssertThrowsError(try fs.lookup(parent: unseen.inode, name: "b")) { error in
      let e = error as? VFSError
      XCTAssertEqual(e?.code, .unavailable)
      XCTAssertTrue(e?.message.contains("not in this node's metadata cache") == true, "\(String(describing: e))")
    }
    XCTAssertFalse(fs.isMetadataConnected)
    let status = fs.status()
    XCTAssertEqual(status.connection, "degraded")
    XCTAssertNotNil(status.degradedSince)
    XCTAssertNotNil(status.lastError)
    backend.isUnavailable = false
    Thread.sleep(forTimeInterval: Connectivity.minProbeDelaySeconds + 0.1)
    XCTAssertTrue(try read(fs, "b", parent: unseen.inode) == Self.bytes(10, 2), "after the backoff the service is asked again")
    XCTAssertTrue(fs.isMetadataConnected)
    XCTAssertEqual(fs.status().connection, "connected")
  }

  func testNewMountOfACachedVersionStartsWhileMetadataIsDown() throws {
    let backend = FakeBackend()
    try backend.seed("/f", Self.bytes(5000, 3))
    let first = try open(backend, mount: "m1")
    XCTAssertTrue(try read(first, "f") == Self.bytes(5000, 3))
    try backend.seed("/g", Self.bytes(10, 4))  // head moves to a version never listed here
    _ = try open(backend, mount: "probe")  // sees the new head: cache knows head 3, root of 3 cached
    backend.isUnavailable = true
    let second = try open(backend, mount: "m2")
    XCTAssertEqual(second.pinnedVersion, 3, "the newest version whose root is cached")
    XCTAssertTrue(try read(second, "f") == Self.bytes(5000, 3))
    XCTAssertEqual(second.status().versionSource?.contains("node metadata cache"), true)
    let third = try open(backend, mount: "m3", version: 2)
    XCTAssertEqual(third.pinnedVersion, 2)
    XCTAssertEqual(try names(third, root), ["f"])
    XCTAssertThrowsError(try open(backend, mount: "m4", version: 1), "version 1 was never listed on this node")
  }

  func testReloadToTheHeadIsRefusedWhileDegradedButACachedVersionWorks() throws {
    let backend = FakeBackend()
    try backend.seed("/f", [1])
    try backend.seed("/g", [2])
    let fs = try open(backend)
    XCTAssertEqual(try fs.reload(to: 2), 2)
    XCTAssertEqual(try names(fs, root), ["f"])
    backend.isUnavailable = true
    XCTAssertThrowsError(try fs.reload()) { XCTAssertEqual(($0 as? VFSError)?.code, .unavailable) }
    XCTAssertEqual(fs.pinnedVersion, 2)
    XCTAssertEqual(try fs.reload(to: 3), 3, "version 3 was listed on this node before")
    XCTAssertEqual(try names(fs, root).sorted(), ["f", "g"])
  }

  // MARK: Queued commits

  func testCommitsQueueWhileDownAndLandInOrderExactlyOnce() throws {
    let backend = FakeBackend()
    try backend.seed("/old", [9])
    let fs = try open(backend)
    _ = try names(fs, root)
    backend.isUnavailable = true
    try write(fs, "f", Self.bytes(150_000, 1))
    guard case .queued(1, let key1) = try fs.commitOrQueue(message: "first") else { return XCTFail("not queued") }
    try write(fs, "f", Self.bytes(70_000, 2))
    try write(fs, "g", Self.bytes(10, 3))
    XCTAssertThrowsError(try fs.commit(message: "second")) { XCTAssertEqual(($0 as? VFSError)?.code, .queued) }
    XCTAssertEqual(fs.queuedCommitCount, 2)
    XCTAssertFalse(fs.hasStagedChanges)
    XCTAssertTrue(try read(fs, "f") == Self.bytes(70_000, 2), "the mount shows the queued content")
    XCTAssertTrue(try read(fs, "g") == Self.bytes(10, 3))
    XCTAssertEqual(fs.status().queuedCommits, 2)
    XCTAssertEqual(backend.commits.count, 1, "nothing reached the cluster")
    backend.isUnavailable = false
    XCTAssertNotNil(fs.status().lastCommitError, "the status says why the commits wait")
    try fs.drainQueue()
    XCTAssertEqual(fs.queuedCommitCount, 0)
    XCTAssertNil(fs.status().lastCommitError, "cleared once the queue is applied")
    XCTAssertEqual(backend.commitKeys.count, 2)
    XCTAssertEqual(backend.commitKeys.first, key1, "sent with the key fixed at queue time")
    XCTAssertEqual(backend.versions.count, 4)
    let firstVersion = backend.versions[2]
    XCTAssertNotNil(firstVersion[try VolumePath("/f")])
    XCTAssertNil(firstVersion[try VolumePath("/g")], "the first commit holds only what was committed first")
    XCTAssertTrue(try backend.content("/f") == Self.bytes(70_000, 2))
    XCTAssertTrue(try backend.content("/g") == Self.bytes(10, 3))
    XCTAssertEqual(fs.pinnedVersion, 4)
    XCTAssertTrue(try read(fs, "f") == Self.bytes(70_000, 2))
    try fs.drainQueue()
    XCTAssertEqual(backend.commitKeys.count, 2, "draining an empty queue sends nothing")
  }

  func testQueuedCommitWhoseReplyWasLostAppliesOnce() throws {
    let backend = FakeBackend()
    let fs = try open(backend)
    try write(fs, "f", [1, 2, 3])
    backend.loseNextCommitReply = true
    guard case .queued(1, let key) = try fs.commitOrQueue() else { return XCTFail("a lost reply queues the commit") }
    XCTAssertEqual(backend.commitKeys, [key], "the cluster applied it once already")
    try fs.drainQueue()
    XCTAssertEqual(backend.commitKeys, [key], "the resend was answered from the key, not applied again")
    XCTAssertEqual(backend.versions.count, 2)
    XCTAssertEqual(fs.pinnedVersion, 2)
  }

  func testQueuedCommitsSurviveARestartOfTheMount() throws {
    let backend = FakeBackend()
    try backend.seed("/keep", [7])
    var fs: VolumeFS? = try open(backend)
    _ = try names(fs!, root)
    backend.isUnavailable = true
    try write(fs!, "a", Self.bytes(200_000, 5))
    _ = try fs!.commitOrQueue(message: "one")
    try write(fs!, "b", [4, 5])
    _ = try fs!.commitOrQueue(message: "two")
    try write(fs!, "c", [6])  // staged, not committed
    fs = nil
    let again = try open(backend)
    XCTAssertEqual(again.queuedCommitCount, 2)
    XCTAssertTrue(again.hasStagedChanges)
    XCTAssertTrue(try read(again, "a") == Self.bytes(200_000, 5), "queued blocks are read from the outbox")
    XCTAssertEqual(try names(again, root).sorted(), ["a", "b", "c", "keep"])
    backend.isUnavailable = false
    XCTAssertEqual(try again.commit(message: "three"), 5)
    XCTAssertEqual(backend.versions.count, 5)
    XCTAssertTrue(try backend.content("/a") == Self.bytes(200_000, 5))
    XCTAssertEqual(try backend.content("/c"), [6])
    let outbox = directory + "/m0/staging/outbox"
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outbox), [], "applied blocks leave the outbox")
  }

  func testADamagedQueuedBlockIsAnErrorNeverWrongBytes() throws {
    let backend = FakeBackend()
    let fs = try open(backend)
    _ = try names(fs, root)
    backend.isUnavailable = true
    try write(fs, "f", Self.bytes(1000, 9))
    _ = try fs.commitOrQueue()
    let outbox = directory + "/m0/staging/outbox"
    let name = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: outbox).first)
    try Data(Self.bytes(1000, 8)).write(to: URL(fileURLWithPath: outbox + "/" + name))
    let again = try open(backend)  // a new process: nothing of it in memory
    XCTAssertThrowsError(try read(again, "f")) { XCTAssertEqual(($0 as? VFSError)?.code, .io) }
  }

  func testStrictConflictOnReplayWaitsForADecision() throws {
    let backend = FakeBackend()
    try backend.seed("/f", [1])
    let fs = try open(backend, mode: .strict)
    XCTAssertEqual(try read(fs, "f"), [1])
    backend.isUnavailable = true
    try write(fs, "f", [2])
    _ = try fs.commitOrQueue()
    try backend.seed("/f", [3])  // another writer, while this node is cut off
    backend.isUnavailable = false
    XCTAssertThrowsError(try fs.drainQueue()) { XCTAssertEqual(($0 as? VFSError)?.code, .conflict) }
    XCTAssertEqual(fs.queuedCommitCount, 1, "a refused commit is never dropped silently")
    XCTAssertNotNil(fs.status().queueError)
    try write(fs, "g", [4])
    XCTAssertThrowsError(try fs.commitOrQueue(), "later commits wait behind the refused one")
    try fs.resolveQueuedCommit(.merge)
    try fs.drainQueue()
    XCTAssertEqual(try backend.content("/f"), [2])
    XCTAssertEqual(fs.queuedCommitCount, 0)
    XCTAssertNil(fs.status().queueError)
    XCTAssertEqual(try fs.commit(), 5)
    XCTAssertEqual(try backend.content("/g"), [4])
  }

  func testDroppingARefusedQueuedCommitRemovesItsChanges() throws {
    let backend = FakeBackend()
    try backend.seed("/f", [1])
    let fs = try open(backend, mode: .strict)
    XCTAssertEqual(try read(fs, "f"), [1])
    backend.isUnavailable = true
    try write(fs, "f", [2])
    _ = try fs.commitOrQueue()
    try backend.seed("/f", [3])
    backend.isUnavailable = false
    XCTAssertThrowsError(try fs.drainQueue())
    try fs.resolveQueuedCommit(.drop)
    XCTAssertEqual(fs.queuedCommitCount, 0)
    XCTAssertEqual(try backend.content("/f"), [3])
  }

  func testWithDegradedModeOffCommitsFailAndNothingIsQueued() throws {
    let backend = FakeBackend()
    let fs = try open(backend, degraded: false)
    try write(fs, "f", [1])
    backend.isUnavailable = true
    XCTAssertThrowsError(try fs.commitOrQueue()) { XCTAssertEqual(($0 as? VFSError)?.code, .unavailable) }
    XCTAssertEqual(fs.queuedCommitCount, 0)
    XCTAssertTrue(fs.hasStagedChanges)
    XCTAssertThrowsError(try open(backend, mount: "m1", degraded: false), "no cache: a new mount cannot start")
  }
}
