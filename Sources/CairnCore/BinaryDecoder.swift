/// Decodes what `BinaryEncoder` wrote, enforcing `Limits` on every length, count and depth, and
/// requiring that all input is consumed. Malformed input throws `CairnError(.protocolError)`.
public struct BinaryDecoder {
  public init() {}

  public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
    let impl = BinaryDecoderImpl(bytes: bytes)
    let value = try impl.decodeValue(type)
    guard impl.offset == bytes.count else {
      throw CairnError(.protocolError, "\(bytes.count - impl.offset) unexpected trailing bytes after \(T.self)")
    }
    return value
  }

  /// Decodes and converts any failure into a `CairnError` that names the type.
  public func decodeOrThrow<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(CairnError) -> T {
    do {
      return try decode(type, from: bytes)
    } catch let error as CairnError {
      throw error
    } catch {
      throw CairnError(.protocolError, "malformed \(T.self): \(error)")
    }
  }
}

final class BinaryDecoderImpl: Decoder {
  let bytes: [UInt8]
  var offset = 0
  var depth = 0
  var codingPath: [any CodingKey] = []
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  init(bytes: [UInt8]) { self.bytes = bytes }

  func fail(_ message: String) -> CairnError { CairnError(.protocolError, "malformed payload at byte \(offset): \(message)") }

  func readByte() throws -> UInt8 {
    guard offset < bytes.count else { throw fail("truncated") }
    defer { offset += 1 }
    return bytes[offset]
  }

  func readVarint() throws -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      let b = try readByte()
      if shift == 63 && b > 1 { throw fail("varint overflows 64 bits") }
      result |= UInt64(b & 0x7F) << shift
      if b & 0x80 == 0 { return result }
      shift += 7
      if shift > 63 { throw fail("varint too long") }
    }
  }

  func readSigned() throws -> Int64 {
    let raw = try readVarint()
    return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
  }

  func readLength(limit: Int, what: String) throws -> Int {
    let n = try readVarint()
    guard n <= UInt64(limit) else { throw fail("\(what) length \(n) exceeds the limit of \(limit)") }
    guard Int(n) <= bytes.count - offset else { throw fail("\(what) length \(n) runs past the end") }
    return Int(n)
  }

  func readString() throws -> String {
    let n = try readLength(limit: Limits.maxStringBytes, what: "string")
    let slice = bytes[offset..<offset + n]
    offset += n
    guard let text = String(validating: slice, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
    return text
  }

  func readBlob() throws -> [UInt8] {
    let n = try readLength(limit: Limits.maxFramePayloadBytes, what: "byte string")
    defer { offset += n }
    return Array(bytes[offset..<offset + n])
  }

  func readBool() throws -> Bool {
    switch try readByte() {
    case 0: return false
    case 1: return true
    case let b: throw fail("bool byte \(b) is neither 0 nor 1")
    }
  }

  func narrow<T: FixedWidthInteger>(_ v: UInt64, _ type: T.Type) throws -> T {
    guard let r = T(exactly: v) else { throw fail("value \(v) does not fit \(T.self)") }
    return r
  }

  func narrow<T: FixedWidthInteger>(_ v: Int64, _ type: T.Type) throws -> T {
    guard let r = T(exactly: v) else { throw fail("value \(v) does not fit \(T.self)") }
    return r
  }

  func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
    if T.self == [UInt8].self { return try readBlob() as! T }
    if T.self == String.self { return try readString() as! T }
    if let optional = T.self as? any OptionalDecodable.Type {
      return try decodeOptional(optional) as! T
    }
    depth += 1
    defer { depth -= 1 }
    guard depth <= Limits.maxNestingDepth else { throw fail("nesting deeper than \(Limits.maxNestingDepth)") }
    return try T(from: self)
  }

  private func decodeOptional<O: OptionalDecodable>(_ type: O.Type) throws -> O {
    try readBool() ? try O.decodeWrapped(from: self) : O.none
  }

  func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
    KeyedDecodingContainer(KeyedDecoder<Key>(decoder: self))
  }

  func unkeyedContainer() throws -> any UnkeyedDecodingContainer { try UnkeyedDecoder(decoder: self) }

  func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleDecoder(decoder: self) }
}

/// Shared primitive readers for the three container kinds.
protocol PrimitiveReader {
  var decoder: BinaryDecoderImpl { get }
}

extension PrimitiveReader {
  var codingPath: [any CodingKey] { decoder.codingPath }
  func get(_ t: Bool.Type) throws -> Bool { try decoder.readBool() }
  func get(_ t: String.Type) throws -> String { try decoder.readString() }
  func get(_ t: Double.Type) throws -> Double { Double(bitPattern: try decoder.readVarint()) }
  func get(_ t: Float.Type) throws -> Float { Float(bitPattern: try decoder.narrow(try decoder.readVarint(), UInt32.self)) }
  func get(_ t: Int.Type) throws -> Int { try decoder.narrow(try decoder.readSigned(), Int.self) }
  func get(_ t: Int8.Type) throws -> Int8 { try decoder.narrow(try decoder.readSigned(), Int8.self) }
  func get(_ t: Int16.Type) throws -> Int16 { try decoder.narrow(try decoder.readSigned(), Int16.self) }
  func get(_ t: Int32.Type) throws -> Int32 { try decoder.narrow(try decoder.readSigned(), Int32.self) }
  func get(_ t: Int64.Type) throws -> Int64 { try decoder.readSigned() }
  func get(_ t: UInt.Type) throws -> UInt { try decoder.narrow(try decoder.readVarint(), UInt.self) }
  func get(_ t: UInt8.Type) throws -> UInt8 { try decoder.readByte() }
  func get(_ t: UInt16.Type) throws -> UInt16 { try decoder.narrow(try decoder.readVarint(), UInt16.self) }
  func get(_ t: UInt32.Type) throws -> UInt32 { try decoder.narrow(try decoder.readVarint(), UInt32.self) }
  func get(_ t: UInt64.Type) throws -> UInt64 { try decoder.readVarint() }
}

struct KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol, PrimitiveReader {
  let decoder: BinaryDecoderImpl

  /// The key the input holds next, for enum decoding (`allKeys`); nil at the end.
  var allKeys: [Key] {
    let saved = decoder.offset
    defer { decoder.offset = saved }
    guard let name = try? decoder.readString(), let key = Key(stringValue: name) else { return [] }
    return [key]
  }

  func contains(_ key: Key) -> Bool {
    let saved = decoder.offset
    defer { decoder.offset = saved }
    return (try? decoder.readString()) == key.stringValue
  }

  /// Reads the next key name and checks it is `key`'s, comparing bytes (no String is built).
  private func expect(_ key: Key) throws {
    let start = decoder.offset
    let n = try decoder.readLength(limit: Limits.maxStringBytes, what: "string")
    var expected = key.stringValue
    let matches = expected.withUTF8 { utf8 -> Bool in
      guard utf8.count == n else { return false }
      let bytes = decoder.bytes
      let offset = decoder.offset
      for i in 0..<n where bytes[offset + i] != utf8[i] { return false }
      return true
    }
    guard matches else {
      decoder.offset = start
      let name = (try? decoder.readString()) ?? "(not UTF-8)"
      throw decoder.fail("expected field '\(key.stringValue)', found '\(name.prefix(40))'")
    }
    decoder.offset += n
  }

  func decodeNil(forKey key: Key) throws -> Bool {
    // Only reached through decodeIfPresent, which we implement ourselves.
    let saved = decoder.offset
    try expect(key)
    if try decoder.readByte() == 0 { return true }
    decoder.offset = saved
    return false
  }

  func decode(_ t: Bool.Type, forKey key: Key) throws -> Bool { try expect(key); return try get(t) }
  func decode(_ t: String.Type, forKey key: Key) throws -> String { try expect(key); return try get(t) }
  func decode(_ t: Double.Type, forKey key: Key) throws -> Double { try expect(key); return try get(t) }
  func decode(_ t: Float.Type, forKey key: Key) throws -> Float { try expect(key); return try get(t) }
  func decode(_ t: Int.Type, forKey key: Key) throws -> Int { try expect(key); return try get(t) }
  func decode(_ t: Int8.Type, forKey key: Key) throws -> Int8 { try expect(key); return try get(t) }
  func decode(_ t: Int16.Type, forKey key: Key) throws -> Int16 { try expect(key); return try get(t) }
  func decode(_ t: Int32.Type, forKey key: Key) throws -> Int32 { try expect(key); return try get(t) }
  func decode(_ t: Int64.Type, forKey key: Key) throws -> Int64 { try expect(key); return try get(t) }
  func decode(_ t: UInt.Type, forKey key: Key) throws -> UInt { try expect(key); return try get(t) }
  func decode(_ t: UInt8.Type, forKey key: Key) throws -> UInt8 { try expect(key); return try get(t) }
  func decode(_ t: UInt16.Type, forKey key: Key) throws -> UInt16 { try expect(key); return try get(t) }
  func decode(_ t: UInt32.Type, forKey key: Key) throws -> UInt32 { try expect(key); return try get(t) }
  func decode(_ t: UInt64.Type, forKey key: Key) throws -> UInt64 { try expect(key); return try get(t) }
  func decode<T: Decodable>(_ t: T.Type, forKey key: Key) throws -> T {
    try expect(key)
    decoder.codingPath.append(key)
    defer { decoder.codingPath.removeLast() }
    return try decoder.decodeValue(t)
  }

  func decodeIfPresent<T: Decodable>(_ t: T.Type, forKey key: Key) throws -> T? {
    try expect(key)
    guard try decoder.readBool() else { return nil }
    return try decoder.decodeValue(t)
  }
  func decodeIfPresent(_ t: Bool.Type, forKey key: Key) throws -> Bool? { try decodeIfPresent(t, generic: key) }
  func decodeIfPresent(_ t: String.Type, forKey key: Key) throws -> String? { try decodeIfPresent(t, generic: key) }
  func decodeIfPresent(_ t: Int.Type, forKey key: Key) throws -> Int? { try decodeIfPresent(t, generic: key) }
  func decodeIfPresent(_ t: Int64.Type, forKey key: Key) throws -> Int64? { try decodeIfPresent(t, generic: key) }
  func decodeIfPresent(_ t: UInt8.Type, forKey key: Key) throws -> UInt8? { try decodeIfPresent(t, generic: key) }
  func decodeIfPresent(_ t: UInt32.Type, forKey key: Key) throws -> UInt32? { try decodeIfPresent(t, generic: key) }
  func decodeIfPresent(_ t: UInt64.Type, forKey key: Key) throws -> UInt64? { try decodeIfPresent(t, generic: key) }
  func decodeIfPresent(_ t: Double.Type, forKey key: Key) throws -> Double? { try decodeIfPresent(t, generic: key) }
  private func decodeIfPresent<T: Decodable>(_ t: T.Type, generic key: Key) throws -> T? {
    try expect(key)
    guard try decoder.readBool() else { return nil }
    return try decoder.decodeValue(t)
  }

  func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
    -> KeyedDecodingContainer<NestedKey>
  {
    try expect(key)
    return KeyedDecodingContainer(KeyedDecoder<NestedKey>(decoder: decoder))
  }

  func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
    try expect(key)
    return try UnkeyedDecoder(decoder: decoder)
  }

  func superDecoder() throws -> any Decoder { decoder }
  func superDecoder(forKey key: Key) throws -> any Decoder {
    try expect(key)
    return decoder
  }
}

struct UnkeyedDecoder: UnkeyedDecodingContainer, PrimitiveReader {
  let decoder: BinaryDecoderImpl
  let count: Int?
  private(set) var currentIndex = 0

  init(decoder: BinaryDecoderImpl) throws {
    self.decoder = decoder
    var n: UInt32 = 0
    for shift in stride(from: 0, to: 32, by: 8) { n |= UInt32(try decoder.readByte()) << UInt32(shift) }
    guard n <= UInt32(Limits.maxBlocksPerManifest) else {
      throw decoder.fail("list of \(n) items exceeds the limit of \(Limits.maxBlocksPerManifest)")
    }
    // Every element takes at least one byte: a count past the remaining bytes is a lie.
    guard Int(n) <= decoder.bytes.count - decoder.offset else { throw decoder.fail("list count \(n) runs past the end") }
    count = Int(n)
  }

  var isAtEnd: Bool { currentIndex >= (count ?? 0) }

  private mutating func advance() throws {
    guard !isAtEnd else { throw decoder.fail("read past the end of a list") }
    currentIndex += 1
  }

  mutating func decodeNil() throws -> Bool {
    guard !isAtEnd else { throw decoder.fail("read past the end of a list") }
    if decoder.bytes[decoder.offset] == 0 {
      decoder.offset += 1
      currentIndex += 1
      return true
    }
    return false
  }
  mutating func decode(_ t: Bool.Type) throws -> Bool { try advance(); return try get(t) }
  mutating func decode(_ t: String.Type) throws -> String { try advance(); return try get(t) }
  mutating func decode(_ t: Double.Type) throws -> Double { try advance(); return try get(t) }
  mutating func decode(_ t: Float.Type) throws -> Float { try advance(); return try get(t) }
  mutating func decode(_ t: Int.Type) throws -> Int { try advance(); return try get(t) }
  mutating func decode(_ t: Int8.Type) throws -> Int8 { try advance(); return try get(t) }
  mutating func decode(_ t: Int16.Type) throws -> Int16 { try advance(); return try get(t) }
  mutating func decode(_ t: Int32.Type) throws -> Int32 { try advance(); return try get(t) }
  mutating func decode(_ t: Int64.Type) throws -> Int64 { try advance(); return try get(t) }
  mutating func decode(_ t: UInt.Type) throws -> UInt { try advance(); return try get(t) }
  mutating func decode(_ t: UInt8.Type) throws -> UInt8 { try advance(); return try get(t) }
  mutating func decode(_ t: UInt16.Type) throws -> UInt16 { try advance(); return try get(t) }
  mutating func decode(_ t: UInt32.Type) throws -> UInt32 { try advance(); return try get(t) }
  mutating func decode(_ t: UInt64.Type) throws -> UInt64 { try advance(); return try get(t) }
  mutating func decode<T: Decodable>(_ t: T.Type) throws -> T { try advance(); return try decoder.decodeValue(t) }

  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
    -> KeyedDecodingContainer<NestedKey>
  {
    try advance()
    return KeyedDecodingContainer(KeyedDecoder<NestedKey>(decoder: decoder))
  }

  mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
    try advance()
    return try UnkeyedDecoder(decoder: decoder)
  }

  mutating func superDecoder() throws -> any Decoder { try advance(); return decoder }
}

struct SingleDecoder: SingleValueDecodingContainer, PrimitiveReader {
  let decoder: BinaryDecoderImpl

  func decodeNil() -> Bool {
    // Optionals are handled before reaching a single-value container.
    false
  }
  func decode(_ t: Bool.Type) throws -> Bool { try get(t) }
  func decode(_ t: String.Type) throws -> String { try get(t) }
  func decode(_ t: Double.Type) throws -> Double { try get(t) }
  func decode(_ t: Float.Type) throws -> Float { try get(t) }
  func decode(_ t: Int.Type) throws -> Int { try get(t) }
  func decode(_ t: Int8.Type) throws -> Int8 { try get(t) }
  func decode(_ t: Int16.Type) throws -> Int16 { try get(t) }
  func decode(_ t: Int32.Type) throws -> Int32 { try get(t) }
  func decode(_ t: Int64.Type) throws -> Int64 { try get(t) }
  func decode(_ t: UInt.Type) throws -> UInt { try get(t) }
  func decode(_ t: UInt8.Type) throws -> UInt8 { try get(t) }
  func decode(_ t: UInt16.Type) throws -> UInt16 { try get(t) }
  func decode(_ t: UInt32.Type) throws -> UInt32 { try get(t) }
  func decode(_ t: UInt64.Type) throws -> UInt64 { try get(t) }
  func decode<T: Decodable>(_ t: T.Type) throws -> T { try decoder.decodeValue(t) }
}
