import CCrypto

/// The address of a block: the SHA-256 of its uncompressed bytes.
public struct BlockAddress: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
  /// The 32 digest bytes.
  public let bytes: [UInt8]

  public init(digest: [UInt8]) throws(CairnError) {
    guard digest.count == 32 else { throw .invalid("block address must be 32 bytes, got \(digest.count)") }
    bytes = digest
  }

  init(uncheckedDigest digest: [UInt8]) {
    precondition(digest.count == 32, "a SHA-256 digest is 32 bytes")
    bytes = digest
  }

  /// Parses 64 lowercase or uppercase hex digits.
  public init(hex: String) throws(CairnError) {
    let utf8 = Array(hex.utf8)
    guard utf8.count == 64 else { throw .invalid("block address '\(hex.prefix(70))' is not 64 hex digits") }
    var out = [UInt8](repeating: 0, count: 32)
    for i in 0..<32 {
      guard let hi = Self.nibble(utf8[2 * i]), let lo = Self.nibble(utf8[2 * i + 1]) else {
        throw .invalid("block address '\(hex)' is not hexadecimal")
      }
      out[i] = hi << 4 | lo
    }
    bytes = out
  }

  private static func nibble(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: return c - 0x30
    case 0x61...0x66: return c - 0x61 + 10
    case 0x41...0x46: return c - 0x41 + 10
    default: return nil
    }
  }

  /// Hashes `data` and returns its address.
  public static func of<D: ContiguousBytes>(_ data: D) -> BlockAddress {
    var hasher = SHA256Hasher()
    hasher.update(data)
    return hasher.finish()
  }

  public init(from decoder: any Decoder) throws {
    let raw = try decoder.singleValueContainer().decode([UInt8].self)
    do { try self.init(digest: raw) } catch {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(bytes)
  }

  public var hex: String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(64)
    for b in bytes {
      out.append(digits[Int(b >> 4)])
      out.append(digits[Int(b & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  public var description: String { hex }
  public var shortHex: String { String(hex.prefix(12)) }

  public static func < (a: BlockAddress, b: BlockAddress) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// Anything whose bytes can be borrowed contiguously ([UInt8], ArraySlice, UnsafeRawBufferPointer).
public protocol ContiguousBytes {
  func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}
extension Array: ContiguousBytes where Element == UInt8 {}
extension ArraySlice: ContiguousBytes where Element == UInt8 {}
extension UnsafeRawBufferPointer: ContiguousBytes {
  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(self) }
}

/// Incremental SHA-256 (OpenSSL's libcrypto, which uses the CPU's SHA extensions when present).
public struct SHA256Hasher: ~Copyable {
  private var context = SHA256_CTX()

  public init() { SHA256_Init(&context) }

  public mutating func update<D: ContiguousBytes>(_ data: D) {
    data.withUnsafeBytes { raw in
      if let base = raw.baseAddress, raw.count > 0 { _ = SHA256_Update(&context, base, raw.count) }
    }
  }

  public mutating func update(_ raw: UnsafeRawBufferPointer) {
    if let base = raw.baseAddress, raw.count > 0 { _ = SHA256_Update(&context, base, raw.count) }
  }

  public consuming func finish() -> BlockAddress {
    var digest = [UInt8](repeating: 0, count: 32)
    digest.withUnsafeMutableBufferPointer { _ = SHA256_Final($0.baseAddress, &context) }
    return BlockAddress(uncheckedDigest: digest)
  }
}
