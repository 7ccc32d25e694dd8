import CairnCore
import CairnWire
import NIOCore
import NIOPosix
import Synchronization

/// A one-way stream of frames to one server over a persistent connection: every frame is sent
/// with `FrameFlags.oneWay` and request id 0, and nothing waits for an answer, so frames are
/// pipelined back to back. The server answers nothing; a frame it refuses gets a connection-level
/// error frame, after which it closes the connection (`closeReason` then says why).
///
/// `send` may be called from any thread; frames leave in the order of the calls. The connection's
/// write buffer is bounded by `maxBufferedBytes`: past it, `isWritable` turns false and the caller
/// should drop (or hold back) what it would send.
public final class FrameStream: Sendable {
  public let address: ServerAddress
  private let channel: any Channel
  private let handler: StreamInboundHandler

  private init(address: ServerAddress, channel: any Channel, handler: StreamInboundHandler) {
    self.address = address
    self.channel = channel
    self.handler = handler
  }

  /// Connects within `timeout`, or fails with `.unavailable` naming the address.
  public static func connect(
    to address: ServerAddress, timeout: Duration = .seconds(3), maxBufferedBytes: Int = 8 << 20,
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) async throws(CairnError) -> FrameStream {
    let handler = StreamInboundHandler(address: address)
    let millis = Int64(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
    let bootstrap = ClientBootstrap(group: group)
      .connectTimeout(.milliseconds(millis))
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .channelOption(
        .writeBufferWaterMark,
        value: .init(low: max(1, maxBufferedBytes / 2), high: max(2, maxBufferedBytes)))
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
          try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
          try channel.pipeline.syncOperations.addHandler(handler)
        }
      }
    do {
      let channel = try await bootstrap.connect(host: address.host, port: address.port).get()
      return FrameStream(address: address, channel: channel, handler: handler)
    } catch {
      throw CairnError(.unavailable, "cannot connect to \(address): \(WireConnection.describe(error))")
    }
  }

  public var isClosed: Bool { !channel.isActive }

  /// False while more than `maxBufferedBytes` wait in the connection's write buffer.
  public var isWritable: Bool { channel.isWritable }

  /// Why the connection closed, when the server said so (an error frame) or the socket failed.
  public var closeReason: CairnError? { handler.reason.withLock { $0 } }

  /// Queues one one-way frame and flushes it.
  public func send(kind: MessageKind, payload: ByteBuffer) {
    channel.writeAndFlush(Frame(kind: kind, flags: .oneWay, requestId: 0, payload: payload), promise: nil)
  }

  public func close() {
    channel.close(promise: nil)
  }
}

/// Inbound side of a `FrameStream`: a server sends nothing on it except a connection-level error
/// before closing; anything else is a protocol error too.
final class StreamInboundHandler: ChannelInboundHandler, Sendable {
  typealias InboundIn = Frame

  let address: ServerAddress
  let reason = Mutex<CairnError?>(nil)

  init(address: ServerAddress) { self.address = address }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = unwrapInboundIn(data)
    let error: CairnError
    if frame.flags.contains(.error) {
      error =
        (try? WireCodec.decode(CairnError.self, from: frame.payload))
        ?? CairnError(.protocolError, "\(address) sent an undecodable error")
    } else {
      error = CairnError(.protocolError, "\(address) answered a one-way stream")
    }
    reason.withLock { if $0 == nil { $0 = error } }
    context.close(promise: nil)
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    let failure: CairnError
    if let frameError = error as? FrameError {
      failure = CairnError(.protocolError, "bad data from \(address): \(frameError.description)")
    } else {
      failure = CairnError(.unavailable, "connection to \(address) failed: \(WireConnection.describe(error))")
    }
    reason.withLock { if $0 == nil { $0 = failure } }
    context.close(promise: nil)
  }
}
