import CairnCore
import NIOCore

// The metadata hot path's frame payloads: a commit request and its answer travel in the
// hand-coded format (`WireFormat.metaMessage`, then a tag, then the fields; see CairnCore's
// `WireCoding.swift`), every other request and response as its generic `BinaryEncoder` encoding.
// A generic encoding of these enums starts with the length of a case name, never the marker, so
// the server reads both, and answers a compact request compactly and a generic one generically
// (a client of an earlier build keeps working).

extension MetaRequest {
  /// The frame payload: compact for a commit, generic otherwise.
  public var payload: ByteBuffer {
    guard case .commit(let request) = self else { return WireCodec.encode(self) }
    var writer = WireWriter(capacity: 256)
    writer.byte(WireFormat.metaMessage)
    writer.byte(1)
    writer.value(request)
    return ByteBuffer(bytes: writer.bytes)
  }

  /// Decodes either format; `isCompact` says which one the request came in.
  public static func decode(payload: ByteBuffer) throws(CairnError) -> (request: MetaRequest, isCompact: Bool) {
    guard payload.readableBytesView.first == WireFormat.metaMessage else {
      return (try WireCodec.decode(MetaRequest.self, from: payload), false)
    }
    var reader = WireReader(Array(payload.readableBytesView), for: MetaRequest.self)
    _ = try reader.byte()
    let request: MetaRequest
    switch try reader.byte() {
    case 1: request = .commit(try reader.value(CommitRequest.self))
    case let tag: throw reader.unknownTag(tag, of: "compact MetaRequest")
    }
    try reader.finish()
    return (request, true)
  }
}

extension MetaResponse {
  /// The frame payload: compact for a commit result when `compact` (the request was), generic
  /// otherwise.
  public func payload(compact: Bool) -> ByteBuffer {
    guard compact, case .commit(let result) = self else { return WireCodec.encode(self) }
    var writer = WireWriter(capacity: 16)
    writer.byte(WireFormat.metaMessage)
    writer.byte(1)
    writer.value(result)
    return ByteBuffer(bytes: writer.bytes)
  }

  /// Decodes either format.
  public init(payload: ByteBuffer) throws(CairnError) {
    guard payload.readableBytesView.first == WireFormat.metaMessage else {
      self = try WireCodec.decode(MetaResponse.self, from: payload)
      return
    }
    var reader = WireReader(Array(payload.readableBytesView), for: MetaResponse.self)
    _ = try reader.byte()
    switch try reader.byte() {
    case 1: self = .commit(try reader.value(CommitResult.self))
    case let tag: throw reader.unknownTag(tag, of: "compact MetaResponse")
    }
    try reader.finish()
  }
}
