import CairnCore
import CairnKV
import CairnMetadata
import XCTest

/// A state machine on an in-memory store with helpers to build commits.
final class MetadataFixture {
  let store: any KVStore
  let machine: MetadataStateMachine
  var reader: MetadataReader { MetadataReader(store: store) }
  var clock: Int64 = 1_000_000_000
  /// Blocks "uploaded" so far; commits carry their placements like a leader would.
  var uploaded: [BlockAddress: UInt32] = [:]

  init(store: any KVStore = MemoryStore()) throws {
    self.store = store
    machine = try MetadataStateMachine(store: store)
  }

  func tick() -> Int64 {
    clock += 1_000_000
    return clock
  }

  @discardableResult
  func create(_ name: String, retained: UInt32 = 100, blockBytes: UInt32 = 65536) throws -> VolumeInfo {
    let settings = VolumeSettings(blockBytes: blockBytes, replicationFactor: 1, retainedVersions: retained)
    guard case .volume(let info) = try machine.applyNext(.createVolume(try VolumeName(name), settings, timeNanos: tick()))
    else { throw CairnError(.internalError, "unexpected result") }
    return info
  }

  /// A manifest for `content` split into `blockBytes` blocks, recorded as uploaded.
  func manifest(_ content: [UInt8], blockBytes: Int = 65536) -> Manifest {
    var blocks: [BlockRef] = []
    var offset = 0
    while offset < content.count {
      let piece = Array(content[offset..<min(offset + blockBytes, content.count)])
      let address = BlockAddress.of(piece)
      uploaded[address] = UInt32(piece.count)
      blocks.append(BlockRef(address: address, length: UInt32(piece.count)))
      offset += blockBytes
    }
    return Manifest(blocks: blocks)
  }

  func file(_ text: String) -> NewEntry {
    .file(manifest(Array(text.utf8)), Attributes(mode: 0o100644, mtimeNanos: clock))
  }

  @discardableResult
  func commit(
    _ volume: String, _ changes: [Change], base: UInt64? = nil, mode: CommitMode = .merge, key: String = "",
    placeBlocks: Bool = true
  ) throws -> CommitResult {
    let name = try VolumeName(volume)
    let head = try reader.volume(name).headVersion
    let placements = placeBlocks ? uploaded.map { BlockPlacement(address: $0.key, length: $0.value, servers: [1]) } : []
    let request = CommitRequest(
      volume: name, baseVersion: base ?? head, changes: changes, mode: mode, idempotencyKey: key, author: "test",
      message: "")
    guard case .commit(let result) = try machine.applyNext(.commit(request, placements: placements, timeNanos: tick()))
    else { throw CairnError(.internalError, "unexpected result") }
    return result
  }

  func names(_ volume: String, _ dir: String = "/", version: UInt64? = nil) throws -> [String] {
    try reader.list(try VolumeName(volume), path: try VolumePath(dir), version: version, after: nil, limit: 10_000)
      .entries.map(\.path.name)
  }

  func exists(_ volume: String, _ path: String, version: UInt64? = nil) throws -> Bool {
    do {
      _ = try reader.lookup(try VolumeName(volume), path: try VolumePath(path), version: version)
      return true
    } catch let error as CairnError where error.code == .notFound {
      return false
    }
  }

  func refCount(_ text: String) throws -> UInt64? {
    try reader.blockRecord(BlockAddress.of(Array(text.utf8)))?.referenceCount
  }
}

func p(_ s: String) -> VolumePath {
  do { return try VolumePath(s) } catch { preconditionFailure("bad test path \(s)") }
}
