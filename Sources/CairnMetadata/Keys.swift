import CairnCore
import CairnKV

/// The RocksDB key layout of the metadata state machine. Every key starts with a one-byte table
/// tag; all per-volume tables continue with the volume id (8 bytes, big-endian) so that one
/// volume's data is contiguous (and could later move to its own Raft group).
///
/// Tree entries use a multi-version layout: `E vol parentPath 0x00 name 0x00 ~version`, where
/// `~version` is `UInt64.max - version` big-endian, so the newest record of a name sorts first and
/// "the record visible at version V" is one seek to `… name 0x00 ~V`. Names and paths never contain
/// 0x00, which makes the separators unambiguous.
enum Keys {
  static let volumeByName: UInt8 = 0x4E  // N name -> volume id
  static let volume: UInt8 = 0x56  // V vol -> VolumeRecord
  static let version: UInt8 = 0x48  // H vol ver -> VersionRecord
  static let entry: UInt8 = 0x45  // E vol parent 0 name 0 ~ver -> StoredEntry
  static let change: UInt8 = 0x43  // C vol ver entryName -> superseded version (0 = none)
  static let idempotency: UInt8 = 0x49  // I vol key -> version
  static let block: UInt8 = 0x42  // B address -> BlockRecord
  static let chunkServer: UInt8 = 0x53  // S serverId -> ChunkServerRecord
  static let meta: UInt8 = 0x4D  // M name -> counters
  static let unreferenced: UInt8 = 0x5A  // Z address -> empty: blocks at reference count zero

  static func u64(_ v: UInt64) -> Bytes {
    [56, 48, 40, 32, 24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> UInt64($0)) }
  }

  static func readU64(_ b: some Collection<UInt8>) -> UInt64 {
    precondition(b.count == 8, "a u64 key field is 8 bytes")
    return b.reduce(0) { $0 << 8 | UInt64($1) }
  }

  static func volumeName(_ name: VolumeName) -> Bytes { [volumeByName] + Array(name.rawValue.utf8) }
  static func volume(_ id: UInt64) -> Bytes { [volume] + u64(id) }
  static func version(_ id: UInt64, _ v: UInt64) -> Bytes { [version] + u64(id) + u64(v) }
  static func versionPrefix(_ id: UInt64) -> Bytes { [version] + u64(id) }
  static func idempotency(_ id: UInt64, _ key: String) -> Bytes { [idempotency] + u64(id) + Array(key.utf8) }
  static func block(_ address: BlockAddress) -> Bytes { [block] + address.bytes }
  static func chunkServer(_ id: UInt64) -> Bytes { [chunkServer] + u64(id) }
  static func unreferenced(_ address: BlockAddress) -> Bytes { [unreferenced] + address.bytes }
  /// Bumped by every `forgetBlocks`: a placement checked under an older epoch is stale.
  static let garbageEpoch: Bytes = [meta] + Array("gc-epoch".utf8)
  static let nextVolumeId: Bytes = [meta] + Array("next-volume-id".utf8)
  static let appliedIndex: Bytes = [meta] + Array("applied-index".utf8)

  /// The version-less part of an entry key: `E vol parent 0 name 0`. The root directory itself is
  /// stored with an empty parent and an empty name.
  static func entryName(_ id: UInt64, _ path: VolumePath) -> Bytes {
    var k: Bytes = [entry] + u64(id)
    if path.isRoot {
      k.append(0)
    } else {
      k += Array(path.parent.rawValue.utf8)
      k.append(0)
      k += Array(path.name.utf8)
    }
    k.append(0)
    return k
  }

  /// Prefix of every entry record of the children of directory `dir`.
  static func childrenPrefix(_ id: UInt64, _ dir: VolumePath) -> Bytes {
    [entry] + u64(id) + Array(dir.rawValue.utf8) + [0]
  }

  static func entryPrefix(_ id: UInt64) -> Bytes { [entry] + u64(id) }

  static func entry(_ name: Bytes, version v: UInt64) -> Bytes { name + u64(UInt64.max - v) }

  /// Splits a full entry key into its version-less name part and its version.
  static func splitEntryKey(_ key: Bytes) -> (name: Bytes, version: UInt64) {
    precondition(key.count >= 1 + 8 + 2 + 8, "entry key too short")
    return (Array(key.dropLast(8)), UInt64.max - readU64(key.suffix(8)))
  }

  /// Recovers the volume path from a version-less entry name.
  static func path(fromEntryName name: Bytes) throws(CairnError) -> VolumePath {
    let body = name.dropFirst(9).dropLast()  // tag + vol, trailing 0
    guard let sep = body.firstIndex(of: 0) else { throw CairnError(.internalError, "entry key without separator") }
    let parent = String(decoding: body[..<sep], as: UTF8.self)
    let leaf = String(decoding: body[(sep + 1)...], as: UTF8.self)
    if parent.isEmpty && leaf.isEmpty { return .root }
    return try VolumePath(parent).appending(leaf)
  }

  static func change(_ id: UInt64, _ v: UInt64, _ entryName: Bytes) -> Bytes {
    [change] + u64(id) + u64(v) + entryName
  }
  static func changePrefix(_ id: UInt64, _ v: UInt64) -> Bytes { [change] + u64(id) + u64(v) }
  static func changePrefix(_ id: UInt64) -> Bytes { [change] + u64(id) }
}
