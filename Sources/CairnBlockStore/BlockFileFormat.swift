import CairnCore

/// The on-disk format of one block file (all integers little-endian):
///
///     header   magic "CBLK" | version u16 | reserved u16 | raw length u64 | segment count u32
///              | segment raw bytes u32 | address [32] | crc32c of the preceding 56 bytes u32
///     segment  codec u8 (0 raw, 1 zstd) | raw length u32 | stored length u32
///              | crc32c of the stored bytes u32 | stored bytes
///
/// Every segment but the last holds exactly `segmentRawBytes` raw bytes, so the segment count
/// follows from the raw length; a reader checks that, every CRC, and the SHA-256 of the whole.
enum BlockFileFormat {
  static let magic: [UInt8] = Array("CBLK".utf8)
  static let version: UInt16 = 1
  static let headerBytes = 60
  static let segmentHeaderBytes = 13
  /// Raw bytes per segment: one streamed body chunk, so a put compresses each chunk as it arrives.
  static let segmentRawBytes = Limits.bodyChunkBytes

  enum Codec: UInt8 {
    case raw = 0
    case zstd = 1
  }

  struct Header: Equatable {
    var rawLength: Int
    var segmentCount: Int
    var segmentRawBytes: Int
    var address: BlockAddress
  }

  struct SegmentHeader: Equatable {
    var codec: Codec
    var rawLength: Int
    var storedLength: Int
    var checksum: UInt32
  }

  static func segmentCount(rawLength: Int, segmentRawBytes: Int = segmentRawBytes) -> Int {
    (rawLength + segmentRawBytes - 1) / segmentRawBytes
  }

  static func encode(_ header: Header) -> [UInt8] {
    precondition(header.rawLength >= 0 && header.rawLength <= Limits.maxBlockBytes, "block length out of bounds")
    var out = magic
    out.reserveCapacity(headerBytes)
    append(UInt64(version), bytes: 2, to: &out)
    append(0, bytes: 2, to: &out)
    append(UInt64(header.rawLength), bytes: 8, to: &out)
    append(UInt64(header.segmentCount), bytes: 4, to: &out)
    append(UInt64(header.segmentRawBytes), bytes: 4, to: &out)
    out += header.address.bytes
    append(UInt64(CRC32C.checksum(out)), bytes: 4, to: &out)
    precondition(out.count == headerBytes, "block header has a fixed size")
    return out
  }

  /// Parses and validates a header; the reason string names what is wrong.
  static func decodeHeader(_ bytes: UnsafeRawBufferPointer) -> Result<Header, FormatError> {
    guard bytes.count == headerBytes else { return .failure(FormatError("header is truncated")) }
    guard Array(bytes[0..<4]) == magic else { return .failure(FormatError("bad magic")) }
    let crc = UInt32(read(bytes, at: 56, bytes: 4))
    guard crc == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<56])) else {
      return .failure(FormatError("header checksum mismatch"))
    }
    guard read(bytes, at: 4, bytes: 2) == UInt64(version) else {
      return .failure(FormatError("unsupported format version \(read(bytes, at: 4, bytes: 2))"))
    }
    let rawLength = read(bytes, at: 8, bytes: 8)
    let segmentCount = Int(read(bytes, at: 16, bytes: 4))
    let segmentRawBytes = Int(read(bytes, at: 20, bytes: 4))
    guard rawLength <= UInt64(Limits.maxBlockBytes) else {
      return .failure(FormatError("raw length \(rawLength) exceeds the largest block"))
    }
    guard segmentRawBytes > 0 && segmentRawBytes <= Limits.maxBlockBytes,
      segmentCount == Self.segmentCount(rawLength: Int(rawLength), segmentRawBytes: segmentRawBytes)
    else {
      return .failure(
        FormatError("segment layout \(segmentCount) x \(segmentRawBytes) does not fit \(rawLength) bytes"))
    }
    guard let address = try? BlockAddress(digest: Array(bytes[24..<56])) else {
      return .failure(FormatError("header address is malformed"))
    }
    return .success(
      Header(rawLength: Int(rawLength), segmentCount: segmentCount, segmentRawBytes: segmentRawBytes, address: address))
  }

  static func encode(_ segment: SegmentHeader, into out: inout [UInt8]) {
    out.append(segment.codec.rawValue)
    append(UInt64(segment.rawLength), bytes: 4, to: &out)
    append(UInt64(segment.storedLength), bytes: 4, to: &out)
    append(UInt64(segment.checksum), bytes: 4, to: &out)
  }

  /// Parses a segment header; `expectedRawBytes` is the segment's raw size implied by the block header.
  static func decodeSegmentHeader(_ bytes: UnsafeRawBufferPointer, expectedRawBytes: Int) -> Result<
    SegmentHeader, FormatError
  > {
    guard bytes.count == segmentHeaderBytes else { return .failure(FormatError("segment header is truncated")) }
    guard let codec = Codec(rawValue: bytes[0]) else { return .failure(FormatError("unknown codec \(bytes[0])")) }
    let rawLength = Int(read(bytes, at: 1, bytes: 4))
    let storedLength = Int(read(bytes, at: 5, bytes: 4))
    guard rawLength == expectedRawBytes else {
      return .failure(FormatError("segment holds \(rawLength) raw bytes, expected \(expectedRawBytes)"))
    }
    // A segment is stored compressed only when that is smaller, so it is never larger than raw.
    let storedOK = codec == .raw ? storedLength == rawLength : storedLength > 0 && storedLength < rawLength
    guard storedOK else {
      return .failure(FormatError("segment stored length \(storedLength) is impossible for \(codec)"))
    }
    return .success(
      SegmentHeader(
        codec: codec, rawLength: rawLength, storedLength: storedLength, checksum: UInt32(read(bytes, at: 9, bytes: 4))))
  }

  private static func append(_ value: UInt64, bytes: Int, to out: inout [UInt8]) {
    for i in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
  }

  private static func read(_ bytes: UnsafeRawBufferPointer, at offset: Int, bytes count: Int) -> UInt64 {
    var value: UInt64 = 0
    for i in 0..<count { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
    return value
  }
}

/// Why a block file failed to parse; becomes a `.corruptBlock` error naming the address.
struct FormatError: Error {
  let reason: String
  init(_ reason: String) { self.reason = reason }
}
