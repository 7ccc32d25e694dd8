import CairnCore
import CairnKV

/// The stored state of a volume.
struct VolumeRecord: Codable, Equatable {
  var info: VolumeInfo
  var nextInode: UInt64
  /// Change records of versions up to this one have been pruned (see `Retention`).
  var prunedThrough: UInt64
}

/// The stored state of a version.
struct VersionRecord: Codable, Equatable {
  var info: VersionInfo
  var idempotencyKey: String
}

/// One multi-version tree record: an entry, or a tombstone saying the path is absent from this
/// version on.
enum StoredEntry: Codable, Equatable {
  case present(Entry)
  case tombstone

  var entry: Entry? {
    if case .present(let e) = self { return e }
    return nil
  }
}

/// What the metadata service knows of a block: how many tree records reference it and where it is
/// durable.
public struct BlockRecord: Codable, Hashable, Sendable {
  public var length: UInt32
  public var referenceCount: UInt64
  /// Chunk servers known to hold a durable copy.
  public var locations: [UInt64]
  /// Copies wanted: the replication factor of the volume whose commit first placed the block
  /// (nil in records written before it was kept; repair then assumes 3).
  public var replicas: UInt8?
  /// The command time at which the reference count last reached zero; nil while referenced, or
  /// when the command that released it carried no time (garbage collection then stamps it).
  public var unreferencedSinceNanos: Int64?
  /// Garbage collection fenced this block in the log: chunk servers are deleting it, and commits
  /// that reference it are refused (retryably) until it is forgotten.
  public var isBeingDeleted: Bool?

  public init(
    length: UInt32, referenceCount: UInt64, locations: [UInt64], replicas: UInt8? = nil,
    unreferencedSinceNanos: Int64? = nil, isBeingDeleted: Bool? = nil
  ) {
    self.length = length
    self.referenceCount = referenceCount
    self.locations = locations
    self.replicas = replicas
    self.unreferencedSinceNanos = unreferencedSinceNanos
    self.isBeingDeleted = isBeingDeleted
  }

  /// The block is being deleted by garbage collection.
  public var isDeleting: Bool { isBeingDeleted == true }
}

/// A chunk server registered with the cluster.
public struct ChunkServerRecord: Codable, Hashable, Sendable {
  public var id: UInt64
  public var address: String
  public var zone: String
  public var registeredNanos: Int64
  /// An operator asked to move every block off this server (`cairn cluster drain-chunk`):
  /// placement skips it and repair copies its blocks elsewhere.
  public var isDraining: Bool?

  public init(id: UInt64, address: String, zone: String, registeredNanos: Int64, isDraining: Bool? = nil) {
    self.id = id
    self.address = address
    self.zone = zone
    self.registeredNanos = registeredNanos
    self.isDraining = isDraining
  }
}

/// Encoding of stored records, with a format byte so layouts can evolve: format 1 is the generic
/// `BinaryEncoder` (key names written), format 2 the hand-coded `WireCodable` layout (volume,
/// version, tree-entry and block records). Both formats are read; format 2 is written for the
/// types that have it. An unknown format byte is refused with an error naming it.
enum RecordCodec {
  static let formatVersion: UInt8 = 1
  static let wireFormatVersion: UInt8 = 2

  static func encode<T: Encodable>(_ value: T) -> Bytes {
    do {
      return [formatVersion] + (try BinaryEncoder().encode(value))
    } catch {
      preconditionFailure("encoding a stored record cannot fail: \(error)")
    }
  }

  static func encode<T: Encodable & WireEncodable>(_ value: T) -> Bytes {
    value.wireEncoded(marker: wireFormatVersion)
  }

  static func decode<T: Decodable>(_ type: T.Type, _ bytes: Bytes) throws(CairnError) -> T {
    guard bytes.first == formatVersion else { throw unknownFormat(T.self, bytes) }
    return try BinaryDecoder().decodeOrThrow(type, from: Array(bytes.dropFirst()))
  }

  static func decode<T: Decodable & WireDecodable>(_ type: T.Type, _ bytes: Bytes) throws(CairnError) -> T {
    switch bytes.first {
    case wireFormatVersion: return try T(wireDecoding: bytes, marker: wireFormatVersion)
    case formatVersion: return try BinaryDecoder().decodeOrThrow(type, from: Array(bytes.dropFirst()))
    default: throw unknownFormat(T.self, bytes)
    }
  }

  private static func unknownFormat(_ type: Any.Type, _ bytes: Bytes) -> CairnError {
    CairnError(.internalError, "stored \(type) has unknown format \(bytes.first.map(String.init) ?? "none")")
  }
}
