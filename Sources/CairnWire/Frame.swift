import CairnCore
import NIOCore

/// One wire frame: a fixed 24-byte header and a payload.
///
/// ```
/// 0      4        5      6      8           16       20        24
/// | magic | version | kind | flags | requestId | length | crc32c | payload…
/// ```
/// All integers are big-endian. `crc32c` covers the payload. A request is one head frame
/// (optionally followed by body frames with the same request id, the last flagged `endOfBody`);
/// a response is one head frame with `isResponse` (optionally followed by body frames).
public struct Frame: Sendable, Equatable {
  public static let magic: UInt32 = 0x4341_524E  // "CARN"
  public static let protocolVersion: UInt8 = 1
  public static let headerBytes = 24

  public var kind: MessageKind
  public var flags: FrameFlags
  public var requestId: UInt64
  public var payload: ByteBuffer

  public init(kind: MessageKind, flags: FrameFlags, requestId: UInt64, payload: ByteBuffer) {
    self.kind = kind
    self.flags = flags
    self.requestId = requestId
    self.payload = payload
  }
}

/// What a frame is about. Unknown kinds are refused by the decoder.
public enum MessageKind: UInt8, Sendable {
  /// Protocol handshake (`Hello`).
  case hello = 1
  /// A `MetaRequest` / `MetaResponse`.
  case meta = 2
  /// A `ChunkRequest` / `ChunkResponse`.
  case chunk = 3
  /// A Raft message between metadata servers.
  case raft = 4
}

/// Frame flags (bit set).
public struct FrameFlags: OptionSet, Sendable, Hashable {
  public let rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }

  /// The frame answers a request.
  public static let response = FrameFlags(rawValue: 1 << 0)
  /// The payload is an encoded `CairnError` instead of a response.
  public static let error = FrameFlags(rawValue: 1 << 1)
  /// A head frame whose body follows in body frames.
  public static let hasBody = FrameFlags(rawValue: 1 << 2)
  /// A body frame: the payload is raw body bytes.
  public static let body = FrameFlags(rawValue: 1 << 3)
  /// The last body frame of a request or response.
  public static let endOfBody = FrameFlags(rawValue: 1 << 4)
  /// A one-way request: the server answers nothing (no response frame, request id 0). Used for
  /// streams of Raft messages, whose answers travel back as Raft messages of their own. A bad
  /// one-way frame gets a connection-level error frame and closes the connection.
  public static let oneWay = FrameFlags(rawValue: 1 << 5)

  static let known: UInt16 = 0b11_1111
}

/// Why a frame could not be decoded. The connection it came from is closed.
public enum FrameError: Error, Equatable, CustomStringConvertible {
  case badMagic(UInt32)
  case unsupportedVersion(UInt8)
  case unknownKind(UInt8)
  case unknownFlags(UInt16)
  case tooLarge(UInt32)
  case checksumMismatch(expected: UInt32, actual: UInt32)

  public var description: String {
    switch self {
    case .badMagic(let m): return "bad frame magic 0x\(String(m, radix: 16)) (not a Cairn peer?)"
    case .unsupportedVersion(let v):
      return "unsupported protocol version \(v) (this build speaks version \(Frame.protocolVersion))"
    case .unknownKind(let k): return "unknown message kind \(k)"
    case .unknownFlags(let f): return "unknown frame flags 0x\(String(f, radix: 16))"
    case .tooLarge(let n): return "frame payload of \(n) bytes exceeds the limit of \(Limits.maxFramePayloadBytes)"
    case .checksumMismatch(let e, let a):
      return "frame payload checksum mismatch (header says 0x\(String(e, radix: 16)), payload has 0x\(String(a, radix: 16)))"
    }
  }

  public var asCairnError: CairnError { CairnError(.protocolError, description) }
}

extension Frame {
  /// Appends the encoded frame to `buffer`.
  public func write(to buffer: inout ByteBuffer) {
    precondition(payload.readableBytes <= Limits.maxFramePayloadBytes, "frame payload over the limit")
    buffer.writeInteger(Frame.magic)
    buffer.writeInteger(Frame.protocolVersion)
    buffer.writeInteger(kind.rawValue)
    buffer.writeInteger(flags.rawValue)
    buffer.writeInteger(requestId)
    buffer.writeInteger(UInt32(payload.readableBytes))
    let crc = payload.withUnsafeReadableBytes { CRC32C.checksum($0) }
    buffer.writeInteger(crc)
    var copy = payload
    buffer.writeBuffer(&copy)
  }

  /// Reads one frame from the front of `buffer`: nil when more bytes are needed, a `FrameError`
  /// when the bytes can never form a valid frame. Header fields are checked before waiting for
  /// the payload, so an oversized or foreign frame is refused at once.
  public static func read(from buffer: inout ByteBuffer) throws(FrameError) -> Frame? {
    guard buffer.readableBytes >= 4 else { return nil }
    let start = buffer.readerIndex
    guard let magic = buffer.getInteger(at: start, as: UInt32.self) else { return nil }
    guard magic == Frame.magic else { throw .badMagic(magic) }
    guard buffer.readableBytes >= headerBytes,
      let version = buffer.getInteger(at: start + 4, as: UInt8.self),
      let rawKind = buffer.getInteger(at: start + 5, as: UInt8.self),
      let rawFlags = buffer.getInteger(at: start + 6, as: UInt16.self),
      let requestId = buffer.getInteger(at: start + 8, as: UInt64.self),
      let length = buffer.getInteger(at: start + 16, as: UInt32.self),
      let crc = buffer.getInteger(at: start + 20, as: UInt32.self)
    else { return nil }
    guard version == protocolVersion else { throw .unsupportedVersion(version) }
    guard let kind = MessageKind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
    guard rawFlags & ~FrameFlags.known == 0 else { throw .unknownFlags(rawFlags) }
    guard length <= UInt32(Limits.maxFramePayloadBytes) else { throw .tooLarge(length) }
    guard buffer.readableBytes >= headerBytes + Int(length) else { return nil }
    guard let payload = buffer.getSlice(at: start + headerBytes, length: Int(length)) else { return nil }
    let actual = payload.withUnsafeReadableBytes { CRC32C.checksum($0) }
    guard actual == crc else { throw .checksumMismatch(expected: crc, actual: actual) }
    buffer.moveReaderIndex(forwardBy: headerBytes + Int(length))
    return Frame(kind: kind, flags: FrameFlags(rawValue: rawFlags), requestId: requestId, payload: payload)
  }
}

/// NIO decoder turning bytes into `Frame`s.
public struct FrameDecoder: ByteToMessageDecoder {
  public typealias InboundOut = Frame

  public init() {}

  public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
    guard let frame = try Frame.read(from: &buffer) else { return .needMoreData }
    context.fireChannelRead(Self.wrapInboundOut(frame))
    return .continue
  }

  public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
    -> DecodingState
  {
    try decode(context: context, buffer: &buffer)
  }
}

/// NIO encoder writing `Frame`s.
public struct FrameEncoder: MessageToByteEncoder {
  public typealias OutboundIn = Frame

  public init() {}

  public func encode(data: Frame, out: inout ByteBuffer) throws { data.write(to: &out) }
}
