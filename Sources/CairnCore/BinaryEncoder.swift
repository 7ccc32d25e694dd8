/// A compact binary `Encoder` for Cairn's wire messages and stored records.
///
/// Format: integers are LEB128 varints (signed ones zigzag-encoded), `UInt8`/`Bool` are one byte,
/// strings and byte arrays are a varint length then the bytes, keyed containers write each key's
/// name before its value (so a decoder can check the schema and read enum cases), optionals
/// written with `encodeIfPresent` carry a presence byte, and unkeyed containers carry a 4-byte
/// element count. Everything is checked on decoding by `BinaryDecoder` against `Limits`.
public struct BinaryEncoder {
  public init() {}

  /// Encodes `value` to bytes.
  public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
    let sink = ByteSink()
    try sink.encodeValue(value, codingPath: [])
    return sink.bytes
  }
}

final class ByteSink {
  var bytes: [UInt8] = []

  init() { bytes.reserveCapacity(256) }

  func writeVarint(_ value: UInt64) {
    var v = value
    while v >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  func writeSigned(_ value: Int64) { writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

  func writeString(_ text: String) {
    var t = text
    t.withUTF8 { utf8 in
      writeVarint(UInt64(utf8.count))
      bytes.append(contentsOf: utf8)
    }
  }

  func writeBlob(_ blob: [UInt8]) {
    writeVarint(UInt64(blob.count))
    bytes.append(contentsOf: blob)
  }

  func encodeValue<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws {
    // Compare static types: a dynamic cast would also turn an empty [X] into an empty [UInt8].
    if T.self == [UInt8].self, let blob = value as? [UInt8] { return writeBlob(blob) }
    if T.self == String.self, let text = value as? String { return writeString(text) }
    switch value {
    case let optional as any OptionalEncodable:
      if let wrapped = optional.wrappedEncodable {
        bytes.append(1)
        try encodeValue(wrapped, codingPath: codingPath)
      } else {
        bytes.append(0)
      }
    default: try value.encode(to: EncoderImpl(sink: self, codingPath: codingPath))
    }
  }
}

struct EncoderImpl: Encoder {
  let sink: ByteSink
  let codingPath: [any CodingKey]
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
    KeyedEncodingContainer(KeyedEncoder<Key>(sink: sink, codingPath: codingPath))
  }

  func unkeyedContainer() -> any UnkeyedEncodingContainer {
    UnkeyedEncoder(sink: sink, codingPath: codingPath)
  }

  func singleValueContainer() -> any SingleValueEncodingContainer {
    SingleEncoder(sink: sink, codingPath: codingPath)
  }
}

/// Shared primitive writers for the three container kinds.
protocol PrimitiveWriter {
  var sink: ByteSink { get }
  var codingPath: [any CodingKey] { get }
}

extension PrimitiveWriter {
  func putNil() { sink.bytes.append(0) }
  func put(_ v: Bool) { sink.bytes.append(v ? 1 : 0) }
  func put(_ v: String) { sink.writeString(v) }
  func put(_ v: Double) { sink.writeVarint(v.bitPattern) }
  func put(_ v: Float) { sink.writeVarint(UInt64(v.bitPattern)) }
  func put(_ v: Int) { sink.writeSigned(Int64(v)) }
  func put(_ v: Int8) { sink.writeSigned(Int64(v)) }
  func put(_ v: Int16) { sink.writeSigned(Int64(v)) }
  func put(_ v: Int32) { sink.writeSigned(Int64(v)) }
  func put(_ v: Int64) { sink.writeSigned(v) }
  func put(_ v: UInt) { sink.writeVarint(UInt64(v)) }
  func put(_ v: UInt8) { sink.bytes.append(v) }
  func put(_ v: UInt16) { sink.writeVarint(UInt64(v)) }
  func put(_ v: UInt32) { sink.writeVarint(UInt64(v)) }
  func put(_ v: UInt64) { sink.writeVarint(v) }
  func put<T: Encodable>(_ v: T, key: (any CodingKey)?) throws {
    try sink.encodeValue(v, codingPath: key.map { codingPath + [$0] } ?? codingPath)
  }
}

struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol, PrimitiveWriter {
  let sink: ByteSink
  let codingPath: [any CodingKey]

  private func key(_ k: Key) { sink.writeString(k.stringValue) }

  mutating func encodeNil(forKey k: Key) throws { key(k); putNil() }
  mutating func encode(_ v: Bool, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: String, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: Double, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: Float, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: Int, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: Int8, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: Int16, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: Int32, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: Int64, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: UInt, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: UInt8, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: UInt16, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: UInt32, forKey k: Key) throws { key(k); put(v) }
  mutating func encode(_ v: UInt64, forKey k: Key) throws { key(k); put(v) }
  mutating func encode<T: Encodable>(_ v: T, forKey k: Key) throws { key(k); try put(v, key: k) }

  mutating func encodeIfPresent<T: Encodable>(_ v: T?, forKey k: Key) throws {
    key(k)
    if let v {
      sink.bytes.append(1)
      try put(v, key: k)
    } else {
      sink.bytes.append(0)
    }
  }
  mutating func encodeIfPresent(_ v: Bool?, forKey k: Key) throws { try encodeIfPresent(v as Bool?, generic: k) }
  mutating func encodeIfPresent(_ v: String?, forKey k: Key) throws { try encodeIfPresent(v as String?, generic: k) }
  mutating func encodeIfPresent(_ v: Int?, forKey k: Key) throws { try encodeIfPresent(v as Int?, generic: k) }
  mutating func encodeIfPresent(_ v: Int64?, forKey k: Key) throws { try encodeIfPresent(v as Int64?, generic: k) }
  mutating func encodeIfPresent(_ v: UInt8?, forKey k: Key) throws { try encodeIfPresent(v as UInt8?, generic: k) }
  mutating func encodeIfPresent(_ v: UInt32?, forKey k: Key) throws { try encodeIfPresent(v as UInt32?, generic: k) }
  mutating func encodeIfPresent(_ v: UInt64?, forKey k: Key) throws { try encodeIfPresent(v as UInt64?, generic: k) }
  mutating func encodeIfPresent(_ v: Double?, forKey k: Key) throws { try encodeIfPresent(v as Double?, generic: k) }
  private mutating func encodeIfPresent<T: Encodable>(_ v: T?, generic k: Key) throws {
    key(k)
    if let v {
      sink.bytes.append(1)
      try put(v, key: k)
    } else {
      sink.bytes.append(0)
    }
  }

  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey k: Key)
    -> KeyedEncodingContainer<NestedKey>
  {
    key(k)
    return KeyedEncodingContainer(KeyedEncoder<NestedKey>(sink: sink, codingPath: codingPath + [k]))
  }

  mutating func nestedUnkeyedContainer(forKey k: Key) -> any UnkeyedEncodingContainer {
    key(k)
    return UnkeyedEncoder(sink: sink, codingPath: codingPath + [k])
  }

  mutating func superEncoder() -> any Encoder { EncoderImpl(sink: sink, codingPath: codingPath) }
  mutating func superEncoder(forKey k: Key) -> any Encoder {
    key(k)
    return EncoderImpl(sink: sink, codingPath: codingPath + [k])
  }
}

struct UnkeyedEncoder: UnkeyedEncodingContainer, PrimitiveWriter {
  let sink: ByteSink
  let codingPath: [any CodingKey]
  private let countOffset: Int
  private(set) var count: Int = 0

  init(sink: ByteSink, codingPath: [any CodingKey]) {
    self.sink = sink
    self.codingPath = codingPath
    countOffset = sink.bytes.count
    sink.bytes.append(contentsOf: [0, 0, 0, 0])
  }

  private mutating func bump() {
    count += 1
    let c = UInt32(truncatingIfNeeded: count)
    sink.bytes[countOffset] = UInt8(truncatingIfNeeded: c)
    sink.bytes[countOffset + 1] = UInt8(truncatingIfNeeded: c >> 8)
    sink.bytes[countOffset + 2] = UInt8(truncatingIfNeeded: c >> 16)
    sink.bytes[countOffset + 3] = UInt8(truncatingIfNeeded: c >> 24)
  }

  mutating func encodeNil() throws { putNil(); bump() }
  mutating func encode(_ v: Bool) throws { put(v); bump() }
  mutating func encode(_ v: String) throws { put(v); bump() }
  mutating func encode(_ v: Double) throws { put(v); bump() }
  mutating func encode(_ v: Float) throws { put(v); bump() }
  mutating func encode(_ v: Int) throws { put(v); bump() }
  mutating func encode(_ v: Int8) throws { put(v); bump() }
  mutating func encode(_ v: Int16) throws { put(v); bump() }
  mutating func encode(_ v: Int32) throws { put(v); bump() }
  mutating func encode(_ v: Int64) throws { put(v); bump() }
  mutating func encode(_ v: UInt) throws { put(v); bump() }
  mutating func encode(_ v: UInt8) throws { put(v); bump() }
  mutating func encode(_ v: UInt16) throws { put(v); bump() }
  mutating func encode(_ v: UInt32) throws { put(v); bump() }
  mutating func encode(_ v: UInt64) throws { put(v); bump() }
  mutating func encode<T: Encodable>(_ v: T) throws { try put(v, key: nil); bump() }

  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
    -> KeyedEncodingContainer<NestedKey>
  {
    bump()
    return KeyedEncodingContainer(KeyedEncoder<NestedKey>(sink: sink, codingPath: codingPath))
  }

  mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
    bump()
    return UnkeyedEncoder(sink: sink, codingPath: codingPath)
  }

  mutating func superEncoder() -> any Encoder {
    bump()
    return EncoderImpl(sink: sink, codingPath: codingPath)
  }
}

struct SingleEncoder: SingleValueEncodingContainer, PrimitiveWriter {
  let sink: ByteSink
  let codingPath: [any CodingKey]

  mutating func encodeNil() throws { putNil() }
  mutating func encode(_ v: Bool) throws { put(v) }
  mutating func encode(_ v: String) throws { put(v) }
  mutating func encode(_ v: Double) throws { put(v) }
  mutating func encode(_ v: Float) throws { put(v) }
  mutating func encode(_ v: Int) throws { put(v) }
  mutating func encode(_ v: Int8) throws { put(v) }
  mutating func encode(_ v: Int16) throws { put(v) }
  mutating func encode(_ v: Int32) throws { put(v) }
  mutating func encode(_ v: Int64) throws { put(v) }
  mutating func encode(_ v: UInt) throws { put(v) }
  mutating func encode(_ v: UInt8) throws { put(v) }
  mutating func encode(_ v: UInt16) throws { put(v) }
  mutating func encode(_ v: UInt32) throws { put(v) }
  mutating func encode(_ v: UInt64) throws { put(v) }
  mutating func encode<T: Encodable>(_ v: T) throws { try put(v, key: nil) }
}

/// Lets the encoder write a presence byte for optionals wherever they appear (arrays, enum
/// payloads), so that decoding is never ambiguous.
protocol OptionalEncodable {
  var wrappedEncodable: (any Encodable)? { get }
}

extension Optional: OptionalEncodable where Wrapped: Encodable {
  var wrappedEncodable: (any Encodable)? { self.map { $0 as any Encodable } }
}

/// The decoding twin of `OptionalEncodable`.
protocol OptionalDecodable {
  static func decodeWrapped(from decoder: BinaryDecoderImpl) throws -> Self
  static var none: Self { get }
}

extension Optional: OptionalDecodable where Wrapped: Decodable {
  static func decodeWrapped(from decoder: BinaryDecoderImpl) throws -> Self {
    try decoder.decodeValue(Wrapped.self)
  }
}
