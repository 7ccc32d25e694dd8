import CairnCore
import CairnKV

// Hand-coded encodings (see CairnCore's `WireCoding.swift`) of the command a commit replicates
// and of the records applying a commit reads and writes.

extension BlockPlacement: WireCodable {
  public func encode(to writer: inout WireWriter) {
    writer.value(address)
    writer.varint(length)
    writer.varints(servers)
    if let replicas {
      writer.byte(1)
      writer.byte(replicas)
    } else {
      writer.byte(0)
    }
    writer.optionalVarint(garbageEpoch)
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    let address = try reader.value(BlockAddress.self)
    let length = try reader.uint32()
    let servers = try reader.varints()
    let replicas: UInt8? = try reader.bool() ? try reader.byte() : nil
    self.init(
      address: address, length: length, servers: servers, replicas: replicas, garbageEpoch: try reader.optionalVarint())
  }
}

extension MetadataCommand: WireCodable {
  /// Tag 1: a commit, field by field (the hot path). Tag 0: any other command, as its
  /// `BinaryEncoder` encoding in a byte string (rare commands keep the generic codec).
  public func encode(to writer: inout WireWriter) {
    switch self {
    case .commit(let request, let placements, let timeNanos):
      writer.byte(1)
      writer.value(request)
      writer.array(placements)
      writer.signed(timeNanos)
    default:
      writer.byte(0)
      do { writer.blob(try BinaryEncoder().encode(self)) } catch {
        preconditionFailure("encoding a metadata command cannot fail: \(error)")
      }
    }
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    switch try reader.byte() {
    case 1:
      let request = try reader.value(CommitRequest.self)
      let placements = try reader.array(BlockPlacement.self)
      self = .commit(request, placements: placements, timeNanos: try reader.signed())
    case 0:
      let bytes = try reader.blob()
      let command = try BinaryDecoder().decodeOrThrow(MetadataCommand.self, from: bytes)
      if case .commit = command { throw reader.fail("a commit must use its own tag") }
      self = command
    case let tag: throw reader.unknownTag(tag, of: "MetadataCommand")
    }
  }
}

extension VolumeRecord: WireCodable {
  func encode(to writer: inout WireWriter) {
    writer.value(info)
    writer.varint(nextInode)
    writer.varint(prunedThrough)
  }

  init(from reader: inout WireReader) throws(CairnError) {
    let info = try reader.value(VolumeInfo.self)
    let next = try reader.varint()
    self.init(info: info, nextInode: next, prunedThrough: try reader.varint())
  }
}

extension VersionRecord: WireCodable {
  func encode(to writer: inout WireWriter) {
    writer.value(info)
    writer.string(idempotencyKey)
  }

  init(from reader: inout WireReader) throws(CairnError) {
    let info = try reader.value(VersionInfo.self)
    self.init(info: info, idempotencyKey: try reader.string())
  }
}

extension StoredEntry: WireCodable {
  func encode(to writer: inout WireWriter) {
    switch self {
    case .present(let entry):
      writer.byte(1)
      writer.value(entry)
    case .tombstone:
      writer.byte(2)
    }
  }

  init(from reader: inout WireReader) throws(CairnError) {
    switch try reader.byte() {
    case 1: self = .present(try reader.value(Entry.self))
    case 2: self = .tombstone
    case let tag: throw reader.unknownTag(tag, of: "StoredEntry")
    }
  }
}

extension BlockRecord: WireCodable {
  public func encode(to writer: inout WireWriter) {
    writer.varint(length)
    writer.varint(referenceCount)
    writer.varints(locations)
    if let replicas {
      writer.byte(1)
      writer.byte(replicas)
    } else {
      writer.byte(0)
    }
    writer.optionalSigned(unreferencedSinceNanos)
    writer.optionalBool(isBeingDeleted)
  }

  public init(from reader: inout WireReader) throws(CairnError) {
    let length = try reader.uint32()
    let references = try reader.varint()
    let locations = try reader.varints()
    let replicas: UInt8? = try reader.bool() ? try reader.byte() : nil
    let since = try reader.optionalSigned()
    self.init(
      length: length, referenceCount: references, locations: locations, replicas: replicas,
      unreferencedSinceNanos: since, isBeingDeleted: try reader.optionalBool())
  }
}
