import CairnCore
import CairnKV
import CairnTestSupport
import XCTest

@testable import CairnMetadata

final class MetadataWireCodingTests: XCTestCase {
  static let address = BlockAddress.of([9])

  static func commitCommand() throws -> MetadataCommand {
    let attributes = Attributes(mode: 0o100600, mtimeNanos: 12)
    let manifest = Manifest(blocks: [BlockRef(address: address, length: 100)])
    let request = CommitRequest(
      volume: try VolumeName("v"), baseVersion: 3,
      changes: [.put(try VolumePath("/f"), .file(manifest, attributes)), .delete(try VolumePath("/g"), recursive: false)],
      mode: .merge, idempotencyKey: "k", author: "a", message: "")
    return .commit(
      request,
      placements: [
        BlockPlacement(address: address, length: 100, servers: [1, 2, 3], replicas: 3, garbageEpoch: 7),
        BlockPlacement(address: address, length: 1, servers: []),
      ], timeNanos: -9)
  }

  func testCommandsRoundTrip() throws {
    let commands: [MetadataCommand] = [
      try Self.commitCommand(),
      .createVolume(try VolumeName("new"), VolumeSettings(), timeNanos: 5),
      .deleteVolume(try VolumeName("old")),
      .collectGarbage(unreferenced: [Self.address], orphans: [], graceNanos: 1, timeNanos: 2),
      .setChunkServerDraining(4, isDraining: true),
    ]
    for command in commands {
      XCTAssertEqual(try MetadataCommand(wireDecoding: command.wireEncoded()), command)
    }
  }

  func testHostileCommandsAreRefused() throws {
    let bytes = try Self.commitCommand().wireEncoded()
    assertHostileInputRefused(bytes) { b throws(CairnError) in try MetadataCommand(wireDecoding: b) }
    let other = MetadataCommand.deleteVolume(try VolumeName("old")).wireEncoded()
    assertHostileInputRefused(other) { b throws(CairnError) in try MetadataCommand(wireDecoding: b) }
    // A commit smuggled in through the generic tag is refused: each command has one encoding.
    var writer = WireWriter()
    writer.byte(0)
    writer.blob(try BinaryEncoder().encode(try Self.commitCommand()))
    XCTAssertThrowsError(try MetadataCommand(wireDecoding: writer.bytes))
    XCTAssertThrowsError(try MetadataCommand(wireDecoding: [7])) { error in
      XCTAssertTrue("\(error)".contains("unknown MetadataCommand tag 7"), "\(error)")
    }
  }

  func testRecordsUseFormat2AndStillReadFormat1() throws {
    let entry = StoredEntry.present(
      Entry(kind: .file, inode: 3, attributes: Attributes(mode: 1, mtimeNanos: 2), manifest: Manifest(blocks: [])))
    let info = VolumeInfo(
      name: try VolumeName("v"), id: 1, headVersion: 2, oldestVersion: 1, settings: VolumeSettings(), createdNanos: 5,
      updatedNanos: 6, fileCount: 3, totalBytes: 4)
    let version = VersionRecord(
      info: VersionInfo(
        version: 2, parent: 1, author: "a", timeNanos: 3, message: "m", changedPaths: 1, fileCount: 1, totalBytes: 0),
      idempotencyKey: "key")
    let block = BlockRecord(
      length: 10, referenceCount: 2, locations: [1, 5], replicas: 2, unreferencedSinceNanos: -3, isBeingDeleted: false)
    try check(entry)
    try check(StoredEntry.tombstone)
    try check(VolumeRecord(info: info, nextInode: 9, prunedThrough: 1))
    try check(version)
    try check(block)
    try check(BlockRecord(length: 1, referenceCount: 0, locations: []))
    // Records without a hand-coded layout keep format 1.
    let server = ChunkServerRecord(id: 1, address: "a:1", zone: "z", registeredNanos: 3)
    XCTAssertEqual(RecordCodec.encode(server).first, RecordCodec.formatVersion)
    XCTAssertEqual(try RecordCodec.decode(ChunkServerRecord.self, RecordCodec.encode(server)), server)

    XCTAssertThrowsError(try RecordCodec.decode(BlockRecord.self, [9, 1, 2])) { error in
      XCTAssertTrue("\(error)".contains("unknown format 9"), "\(error)")
    }
    XCTAssertThrowsError(try RecordCodec.decode(BlockRecord.self, [])) { error in
      XCTAssertTrue("\(error)".contains("unknown format none"), "\(error)")
    }
    assertHostileInputRefused(Array(RecordCodec.encode(block).dropFirst())) { b throws(CairnError) in
      try BlockRecord(wireDecoding: b)
    }
    assertHostileInputRefused(Array(RecordCodec.encode(version).dropFirst())) { b throws(CairnError) in
      try VersionRecord(wireDecoding: b)
    }
    assertHostileInputRefused(Array(RecordCodec.encode(entry).dropFirst())) { b throws(CairnError) in
      try StoredEntry(wireDecoding: b)
    }
  }

  private func check<T: Codable & WireCodable & Equatable>(
    _ record: T, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    let bytes = RecordCodec.encode(record)
    XCTAssertEqual(bytes.first, RecordCodec.wireFormatVersion, file: file, line: line)
    XCTAssertEqual(try RecordCodec.decode(T.self, bytes), record, file: file, line: line)
    let old = [RecordCodec.formatVersion] + (try BinaryEncoder().encode(record))
    XCTAssertEqual(try RecordCodec.decode(T.self, old), record, file: file, line: line)
  }
}

/// Every strict prefix refused, corruptions and garbage never trap (`hostileInputProblems`).
func assertHostileInputRefused<T>(
  _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line, _ decode: ([UInt8]) throws(CairnError) -> T
) {
  XCTAssertEqual(hostileInputProblems(bytes, decode), [], file: file, line: line)
}
