/// A hand-written binary codec for the hot path (Raft log entries and messages, commit commands,
/// the records a commit reads and writes): every type writes its fields in a fixed order, with no
/// key names, so encoding is appends into one byte array and decoding one pass over it.
///
/// Format: integers are LEB128 varints (signed ones zigzag-encoded), `UInt8` and `Bool` one byte,
/// strings and byte strings a varint length then the bytes, arrays a varint count then the
/// elements, optionals a presence byte (0 or 1) then the value, enums a tag byte then the case's
/// fields. Top-level encodings that share storage or a frame with the older `BinaryEncoder`
/// format start with a marker byte (`WireFormat`) that the older format never starts with.
///
/// Decoding is fully checked like `BinaryDecoder`: every length and count against `Limits` and
/// the bytes left, every tag, every `Bool`, every narrowing; all input must be consumed. Malformed
/// input throws `CairnError(.protocolError)` naming the type and the byte offset; never a trap.
public protocol WireEncodable {
  /// Appends the value's fields to `writer`.
  func encode(to writer: inout WireWriter)
}

/// The decoding twin of `WireEncodable`.
public protocol WireDecodable {
  /// Reads the value's fields from `reader`, checking each.
  init(from reader: inout WireReader) throws(CairnError)
}

public typealias WireCodable = WireEncodable & WireDecodable

/// Marker bytes that start top-level hand-coded encodings. A `BinaryEncoder` encoding of a struct
/// or enum starts with the varint length of its first key name (under 0x40), and of an array with
/// a little-endian 4-byte count, so these values tell the formats apart where both may appear.
public enum WireFormat {
  /// A replicated command in a Raft log entry (`ReplicatedCommand`), format 1.
  public static let replicatedCommand: UInt8 = 0xC1
  /// A Raft `LogEntry` stored in RocksDB, format 1.
  public static let logEntry: UInt8 = 0xC2
  /// A Raft `HardState` stored in RocksDB, format 1.
  public static let hardState: UInt8 = 0xC3
  /// A `.raft` frame's batch of Raft messages, format 1.
  public static let raftMessages: UInt8 = 0xC4
  /// A `MetaRequest` / `MetaResponse` frame payload in the hand-coded format, format 1.
  public static let metaMessage: UInt8 = 0xC5
}

extension WireEncodable {
  /// The value's encoding, optionally preceded by a marker byte.
  public func wireEncoded(marker: UInt8? = nil) -> [UInt8] {
    var writer = WireWriter()
    if let marker { writer.byte(marker) }
    encode(to: &writer)
    return writer.bytes
  }
}

extension WireDecodable {
  /// Decodes a whole encoding (after `marker`, when given), refusing trailing bytes.
  public init(wireDecoding bytes: [UInt8], marker: UInt8? = nil) throws(CairnError) {
    var reader = WireReader(bytes, for: Self.self)
    if let marker {
      let first = try reader.byte()
      guard first == marker else { throw reader.fail("format marker 0x\(String(first, radix: 16)) is not 0x\(String(marker, radix: 16))") }
    }
    self = try Self(from: &reader)
    try reader.finish()
  }
}

/// Appends encoded fields to a byte array.
public struct WireWriter {
  public var bytes: [UInt8] = []

  @inlinable public init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }

  @inlinable public mutating func byte(_ value: UInt8) { bytes.append(value) }

  @inlinable public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

  @inlinable public mutating func varint(_ value: UInt64) {
    var v = value
    while v >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  @inlinable public mutating func varint(_ value: UInt32) { varint(UInt64(value)) }

  @inlinable public mutating func signed(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

  @inlinable public mutating func string(_ text: String) {
    var t = text
    t.withUTF8 { utf8 in
      varint(UInt64(utf8.count))
      bytes.append(contentsOf: utf8)
    }
  }

  @inlinable public mutating func blob(_ blob: [UInt8]) {
    varint(UInt64(blob.count))
    bytes.append(contentsOf: blob)
  }

  @inlinable public mutating func value<T: WireEncodable>(_ value: T) { value.encode(to: &self) }

  @inlinable public mutating func array<T: WireEncodable>(_ values: [T]) {
    varint(UInt64(values.count))
    for v in values { v.encode(to: &self) }
  }

  @inlinable public mutating func varints(_ values: [UInt64]) {
    varint(UInt64(values.count))
    for v in values { varint(v) }
  }

  @inlinable public mutating func optional<T: WireEncodable>(_ value: T?) {
    if let value {
      bytes.append(1)
      value.encode(to: &self)
    } else {
      bytes.append(0)
    }
  }

  @inlinable public mutating func optionalVarint(_ value: UInt64?) {
    if let value {
      bytes.append(1)
      varint(value)
    } else {
      bytes.append(0)
    }
  }

  @inlinable public mutating func optionalSigned(_ value: Int64?) {
    if let value {
      bytes.append(1)
      signed(value)
    } else {
      bytes.append(0)
    }
  }

  @inlinable public mutating func optionalBool(_ value: Bool?) {
    if let value {
      bytes.append(1)
      bool(value)
    } else {
      bytes.append(0)
    }
  }
}

/// Reads encoded fields, checking every one. `type` (the top-level type) is named in errors.
public struct WireReader {
  public let bytes: [UInt8]
  @usableFromInline var position = 0
  @usableFromInline let type: Any.Type

  @inlinable public init(_ bytes: [UInt8], for type: Any.Type) {
    self.bytes = bytes
    self.type = type
  }

  /// The next byte to read.
  @inlinable public var offset: Int { position }

  var what: String { "\(type)" }

  @inlinable public var remaining: Int { bytes.count - position }

  public func fail(_ message: String) -> CairnError {
    CairnError(.protocolError, "malformed \(what) at byte \(offset): \(message)")
  }

  /// Requires that every byte was consumed.
  @inlinable public func finish() throws(CairnError) {
    guard position == bytes.count else { throw fail("\(bytes.count - position) unexpected trailing bytes") }
  }

  @inlinable public mutating func byte() throws(CairnError) -> UInt8 {
    guard position < bytes.count else { throw fail("truncated") }
    defer { position += 1 }
    return bytes[position]
  }

  @inlinable public mutating func bool() throws(CairnError) -> Bool {
    switch try byte() {
    case 0: return false
    case 1: return true
    case let b: throw fail("bool byte \(b) is neither 0 nor 1")
    }
  }

  @inlinable public mutating func varint() throws(CairnError) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      let b = try byte()
      if shift == 63 && b > 1 { throw fail("varint overflows 64 bits") }
      result |= UInt64(b & 0x7F) << shift
      if b & 0x80 == 0 { return result }
      shift += 7
    }
  }

  @inlinable public mutating func signed() throws(CairnError) -> Int64 {
    let raw = try varint()
    return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
  }

  @inlinable public mutating func uint32() throws(CairnError) -> UInt32 {
    let v = try varint()
    guard let r = UInt32(exactly: v) else { throw fail("value \(v) does not fit UInt32") }
    return r
  }

  /// A length or count, at most `limit` and at most the bytes left (each item takes at least a byte).
  @inlinable public mutating func count(limit: Int, what item: @autoclosure () -> String) throws(CairnError) -> Int {
    let n = try varint()
    guard n <= UInt64(limit) else { throw fail("\(item()) count \(n) exceeds the limit of \(limit)") }
    guard n <= UInt64(remaining) else { throw fail("\(item()) count \(n) runs past the end") }
    return Int(n)
  }

  @inlinable public mutating func string() throws(CairnError) -> String {
    let n = try count(limit: Limits.maxStringBytes, what: "string byte")
    let start = position
    // ASCII (names, paths, keys: nearly always) needs no validation; the rest is validated.
    let text: String? = bytes.withUnsafeBufferPointer { all in
      let slice = UnsafeBufferPointer(rebasing: all[start..<start + n])
      for b in slice where b >= 0x80 { return String(validating: slice, as: UTF8.self) }
      return String(decoding: slice, as: UTF8.self)
    }
    guard let text else { throw fail("string is not valid UTF-8") }
    position += n
    return text
  }

  @inlinable public mutating func blob() throws(CairnError) -> [UInt8] {
    let n = try count(limit: Limits.maxFramePayloadBytes, what: "byte string byte")
    let start = position
    position += n
    return Array(bytes[start..<position])
  }

  /// Exactly `n` raw bytes (no length prefix).
  @inlinable public mutating func fixed(_ n: Int) throws(CairnError) -> [UInt8] {
    guard n <= remaining else { throw fail("truncated") }
    let start = position
    position += n
    return Array(bytes[start..<position])
  }

  @inlinable public mutating func value<T: WireDecodable>(_ type: T.Type = T.self) throws(CairnError) -> T {
    try T(from: &self)
  }

  @inlinable public mutating func array<T: WireDecodable>(
    _ type: T.Type = T.self, limit: Int = Limits.maxBlocksPerManifest
  ) throws(CairnError) -> [T] {
    let n = try count(limit: limit, what: "\(T.self)")
    var out: [T] = []
    out.reserveCapacity(n)
    for _ in 0..<n { out.append(try T(from: &self)) }
    return out
  }

  @inlinable public mutating func varints(limit: Int = Limits.maxBlocksPerManifest) throws(CairnError) -> [UInt64] {
    let n = try count(limit: limit, what: "integer")
    var out: [UInt64] = []
    out.reserveCapacity(n)
    for _ in 0..<n { out.append(try varint()) }
    return out
  }

  @inlinable public mutating func optional<T: WireDecodable>(_ type: T.Type = T.self) throws(CairnError) -> T? {
    try bool() ? try T(from: &self) : nil
  }

  @inlinable public mutating func optionalVarint() throws(CairnError) -> UInt64? { try bool() ? try varint() : nil }

  @inlinable public mutating func optionalSigned() throws(CairnError) -> Int64? { try bool() ? try signed() : nil }

  @inlinable public mutating func optionalBool() throws(CairnError) -> Bool? { try bool() ? try bool() : nil }

  /// The error for an enum tag no case has.
  public func unknownTag(_ tag: UInt8, of type: String) -> CairnError {
    CairnError(.protocolError, "malformed \(what) at byte \(offset - 1): unknown \(type) tag \(tag)")
  }
}
