import CairnCore
import CairnKV
import CairnRaft
import CairnRaftStorage
import CairnRocksDB
import Foundation
import XCTest

final class SnapshotFilesTests: XCTestCase {
  private var directory: TemporaryDirectory?
  private var root: String { directory?.path ?? "/nonexistent" }

  override func setUpWithError() throws { directory = try TemporaryDirectory() }
  override func tearDown() { directory = nil }

  private func open(_ path: String) throws -> RocksDBStore {
    try RocksDBStore(path: path, options: .init(blockCacheBytes: 8 << 20, writeBufferBytes: 4 << 20))
  }

  /// A leader's store: Raft keys plus ~600 KiB of state machine data in incompressible values.
  private func makeLeaderCheckpoint() throws -> (manifest: SnapshotManifest, directory: String, pairs: [Bytes: Bytes]) {
    let leader = try open(root + "/leader")
    let log = try RaftLogStore(store: leader)
    try log.overwrite(
      with: PersistentState(
        hardState: HardState(term: 9, votedFor: 1, commitIndex: 3), snapshot: Fixtures.snapshot(index: 0, term: 0),
        entries: Fixtures.entries(1...3, term: 9)))
    var generator = SystemRandomNumberGenerator()
    var pairs: [Bytes: Bytes] = [:]
    var batch = WriteBatch()
    for index in 0..<300 {
      let key: Bytes = [0x4D] + Array("file-\(index)".utf8)
      let value = (0..<2048).map { _ in UInt8.random(in: 0...255, using: &generator) }
      pairs[key] = value
      batch.put(key, value)
    }
    try leader.write(batch, sync: true)
    let checkpoint = root + "/checkpoint-3"
    let manifest = try SnapshotFiles.checkpoint(of: leader, to: checkpoint)
    return (manifest, checkpoint, pairs)
  }

  private func chunks(of manifest: SnapshotManifest, in directory: String, chunkBytes: Int) throws -> [SnapshotChunk] {
    var reader = SnapshotChunkReader(
      directory: directory, manifest: manifest, limits: .init(maxChunkBytes: chunkBytes))
    var result: [SnapshotChunk] = []
    while let chunk = try reader.next() { result.append(chunk) }
    return result
  }

  func testCheckpointTravelsInChunksAndOpensAfterInstall() throws {
    let (manifest, checkpoint, pairs) = try makeLeaderCheckpoint()
    XCTAssertFalse(manifest.files.isEmpty)
    XCTAssertTrue(manifest.files.allSatisfy { $0.sha256.count == 32 })
    XCTAssertEqual(try SnapshotManifest(decoding: manifest.encoded()), manifest, "the manifest is the snapshot data")
    let chunkBytes = 64 << 10
    let chunks = try chunks(of: manifest, in: checkpoint, chunkBytes: chunkBytes)
    XCTAssertTrue(chunks.allSatisfy { $0.data.count <= chunkBytes })
    XCTAssertGreaterThan(chunks.count, manifest.files.count, "big files are split")
    XCTAssertEqual(chunks.reduce(UInt64(0)) { $0 + UInt64($1.data.count) }, manifest.totalBytes)
    XCTAssertEqual(
      try self.chunks(of: manifest, in: checkpoint, chunkBytes: 1 << 20).map(\.data.count).max() ?? 0 <= 1 << 20, true)

    // The follower has its own store with its own Raft state and stale data.
    let live = root + "/follower"
    do {
      let follower = try open(live)
      try Fixtures.putStateMachineKeys(follower)
      try RaftLogStore(store: follower).overwrite(
        with: PersistentState(
          hardState: HardState(term: 11, votedFor: 3), snapshot: Fixtures.snapshot(index: 0, term: 0), entries: []))
    }
    let staging = SnapshotFiles.stagingDirectory(for: live)
    let receiver = try SnapshotReceiver(
      manifest: SnapshotManifest(decoding: manifest.encoded()), stagingDirectory: staging,
      limits: .init(maxChunkBytes: chunkBytes))
    for chunk in chunks { try receiver.receive(chunk) }
    XCTAssertTrue(receiver.isComplete)
    XCTAssertEqual(receiver.receivedBytes, manifest.totalBytes)
    try receiver.finish()

    // Rewrite the staged Raft keys with the follower's own hard state and the new snapshot.
    let installed = PersistentState(
      hardState: HardState(term: 11, votedFor: 3, commitIndex: 3),
      snapshot: Snapshot(
        metadata: SnapshotMetadata(index: 3, term: 9, membership: Membership(voters: Fixtures.voters)),
        data: try manifest.encoded()),
      entries: [])
    do { try RaftLogStore(store: open(staging)).overwrite(with: installed) }
    try SnapshotFiles.install(stagedDirectory: staging, as: live)
    XCTAssertFalse(FileManager.default.fileExists(atPath: staging))
    XCTAssertFalse(FileManager.default.fileExists(atPath: live + ".old"))
    XCTAssertFalse(FileManager.default.fileExists(atPath: live + ".incoming"))

    let reopened = try open(live)
    XCTAssertEqual(try Fixtures.stateMachineKeys(reopened), pairs, "the leader's state machine, not the stale one")
    XCTAssertEqual(try RaftLogStore(store: reopened).load(), installed, "the follower's own Raft state")
  }

  func testCorruptedChunksAreRefused() throws {
    let (manifest, checkpoint, _) = try makeLeaderCheckpoint()
    let chunks = try chunks(of: manifest, in: checkpoint, chunkBytes: 32 << 10)
    let receiver = try SnapshotReceiver(
      manifest: manifest, stagingDirectory: root + "/staging", limits: .init(maxChunkBytes: 32 << 10))
    let victim = try XCTUnwrap(chunks.firstIndex { $0.data.count > 100 })
    for chunk in chunks[..<victim] { try receiver.receive(chunk) }

    var damaged = chunks[victim]
    damaged.data[50] ^= 0x01
    XCTAssertThrowsError(try receiver.receive(damaged)) { error in
      XCTAssertEqual((error as? CairnError)?.code, .protocolError)
      XCTAssertTrue("\(error)".contains("CRC-32C"), "\(error)")
    }
    // Damage that keeps a valid chunk checksum is caught by the file's SHA-256 at the end.
    let forged = SnapshotChunk(fileName: damaged.fileName, offset: damaged.offset, data: damaged.data)
    try receiver.receive(forged)
    for chunk in chunks[(victim + 1)...] { try receiver.receive(chunk) }
    XCTAssertTrue(receiver.isComplete)
    XCTAssertThrowsError(try receiver.finish()) { error in
      XCTAssertEqual((error as? CairnError)?.code, .corruptBlock)
      XCTAssertTrue("\(error)".contains(damaged.fileName), "\(error)")
    }

    // A refused chunk writes nothing, so resending the good one completes the transfer.
    let retry = try SnapshotReceiver(
      manifest: manifest, stagingDirectory: root + "/staging", limits: .init(maxChunkBytes: 32 << 10))
    for chunk in chunks[..<victim] { try retry.receive(chunk) }
    XCTAssertThrowsError(try retry.receive(damaged))
    for chunk in chunks[victim...] { try retry.receive(chunk) }
    try retry.finish()
  }

  func testHostileChunksAndManifestsAreRefused() throws {
    let file = SnapshotManifest.File(name: "000001.sst", size: 10, sha256: Array(repeating: 0, count: 32))
    let manifest = SnapshotManifest(files: [file])
    let receiver = try SnapshotReceiver(
      manifest: manifest, stagingDirectory: root + "/staging", limits: .init(maxChunkBytes: 4))
    func refuses(_ chunk: SnapshotChunk, _ code: CairnError.Code, _ what: String) {
      XCTAssertThrowsError(try receiver.receive(chunk), what) { XCTAssertEqual(($0 as? CairnError)?.code, code, what) }
    }
    refuses(SnapshotChunk(fileName: "../escape", offset: 0, data: [1]), .protocolError, "unknown file")
    refuses(SnapshotChunk(fileName: "000001.sst", offset: 0, data: [1, 2, 3, 4, 5]), .tooLarge, "oversized chunk")
    refuses(SnapshotChunk(fileName: "000001.sst", offset: 4, data: [1]), .protocolError, "out of order")
    try receiver.receive(SnapshotChunk(fileName: "000001.sst", offset: 0, data: [1, 2, 3, 4]))
    try receiver.receive(SnapshotChunk(fileName: "000001.sst", offset: 4, data: [1, 2, 3, 4]))
    refuses(SnapshotChunk(fileName: "000001.sst", offset: 8, data: [1, 2, 3]), .protocolError, "past the end")
    XCTAssertFalse(receiver.isComplete)
    XCTAssertThrowsError(try receiver.finish()) { XCTAssertEqual(($0 as? CairnError)?.code, .protocolError) }

    for name in ["", ".", "..", "a/b", "../x", "x\u{0}"] {
      let bad = SnapshotManifest(files: [
        SnapshotManifest.File(name: name, size: 1, sha256: Array(repeating: 0, count: 32))
      ])
      XCTAssertThrowsError(try bad.validate(), "name \(String(reflecting: name))")
      XCTAssertThrowsError(try SnapshotReceiver(manifest: bad, stagingDirectory: root + "/bad"))
    }
    let duplicate = SnapshotManifest(files: [file, file])
    XCTAssertThrowsError(try duplicate.validate())
    let short = SnapshotManifest(files: [SnapshotManifest.File(name: "a", size: 1, sha256: [1])])
    XCTAssertThrowsError(try short.validate())
    XCTAssertThrowsError(try manifest.validate(limits: .init(maxTotalBytes: 9))) {
      XCTAssertEqual(($0 as? CairnError)?.code, .tooLarge)
    }
    var future = manifest
    future.formatVersion = 2
    XCTAssertThrowsError(try SnapshotManifest(decoding: future.encoded()))
    XCTAssertThrowsError(try SnapshotManifest(decoding: [1, 2, 3]))
  }

  func testEmptyFilesTravelToo() throws {
    let source = root + "/source"
    try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: source + "/empty", contents: Data())
    _ = FileManager.default.createFile(atPath: source + "/small", contents: Data([1, 2, 3]))
    let manifest = try SnapshotFiles.manifest(ofDirectory: source)
    XCTAssertEqual(manifest.files.map(\.name), ["empty", "small"])
    let chunks = try chunks(of: manifest, in: source, chunkBytes: 2)
    XCTAssertEqual(chunks.map(\.data.count), [0, 2, 1])
    let receiver = try SnapshotReceiver(manifest: manifest, stagingDirectory: root + "/copy")
    for chunk in chunks { try receiver.receive(chunk) }
    try receiver.finish()
    XCTAssertEqual(try SnapshotFiles.manifest(ofDirectory: root + "/copy"), manifest)
  }

  func testInterruptedInstallRollsForward() throws {
    let live = root + "/db"
    func make(_ path: String, _ marker: String) throws {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
      _ = FileManager.default.createFile(atPath: path + "/" + marker, contents: Data())
    }
    func contents(_ path: String) -> [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }
    // Crash after the commit point, before the old directory moved aside.
    try make(live, "old-state")
    try make(live + ".incoming", "new-state")
    try make(SnapshotFiles.stagingDirectory(for: live), "partial")
    try SnapshotFiles.recoverInterruptedInstall(liveDirectory: live)
    XCTAssertEqual(contents(live), ["new-state"])
    XCTAssertEqual(contents(root), ["db"])

    // Crash between moving the old directory aside and renaming the new one in.
    try FileManager.default.moveItem(atPath: live, toPath: live + ".old")
    try make(live + ".incoming", "newer-state")
    try SnapshotFiles.recoverInterruptedInstall(liveDirectory: live)
    XCTAssertEqual(contents(live), ["newer-state"])
    XCTAssertEqual(contents(root), ["db"])

    // Crash before the commit point: only the staging directory is left; the live one stays.
    try make(SnapshotFiles.stagingDirectory(for: live), "partial")
    try make(live + ".old", "older")
    try SnapshotFiles.recoverInterruptedInstall(liveDirectory: live)
    XCTAssertEqual(contents(live), ["newer-state"])
    XCTAssertEqual(contents(root), ["db"])
  }
}
