import CairnCore
import NIOCore

extension RaftRequest {
  /// The `.raft` frame payload. A message batch travels bare: its encoding
  /// (`RaftWireCodec.encode`) starts with `WireFormat.raftMessages`, which no generic encoding of
  /// a `RaftRequest` starts with (that starts with the length of a case name), so the receiver
  /// takes the bytes as they are, with no envelope to encode or parse. Every other request is
  /// sent as its generic encoding.
  public var payload: ByteBuffer {
    if case .messages(let bytes) = self, bytes.first == WireFormat.raftMessages { return ByteBuffer(bytes: bytes) }
    return WireCodec.encode(self)
  }

  /// Decodes a `.raft` frame payload written by `payload` (or by an older member's generic encoder).
  public init(payload: ByteBuffer) throws(CairnError) {
    if payload.readableBytesView.first == WireFormat.raftMessages {
      self = .messages(Array(payload.readableBytesView))
      return
    }
    self = try WireCodec.decode(RaftRequest.self, from: payload)
  }
}
