import CairnCore
import CairnWire
import NIOCore
import NIOPosix

/// A reply as a client sees it.
public struct WireReply: Sendable {
  public var payload: ByteBuffer
  public var body: [UInt8]?
}

/// One multiplexed client connection to a Cairn server. Thread-safe; many requests may be in
/// flight at once. When the connection drops, every pending request fails with `.unavailable`
/// and the connection reports `isClosed` (pools then reconnect).
public final class WireConnection: Sendable {
  public let address: ServerAddress
  private let channel: any Channel
  private let handler: ClientConnectionHandler

  private init(address: ServerAddress, channel: any Channel, handler: ClientConnectionHandler) {
    self.address = address
    self.channel = channel
    self.handler = handler
  }

  /// Connects within `timeout`, or fails with `.unavailable` naming the address.
  public static func connect(
    to address: ServerAddress, timeout: Duration = .seconds(3),
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) async throws(CairnError) -> WireConnection {
    let handler = ClientConnectionHandler(address: address)
    let bootstrap = ClientBootstrap(group: group)
      .connectTimeout(
        .milliseconds(Int64(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
      )
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
          try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
          try channel.pipeline.syncOperations.addHandler(handler)
        }
      }
    do {
      let channel = try await bootstrap.connect(host: address.host, port: address.port).get()
      return WireConnection(address: address, channel: channel, handler: handler)
    } catch {
      throw CairnError(.unavailable, "cannot connect to \(address): \(Self.describe(error))")
    }
  }

  static func describe(_ error: any Error) -> String {
    let text = "\(error)"
    for (needle, plain) in [
      ("Connection refused", "connection refused"), ("connectTimeout", "connection timed out"),
      ("No route to host", "no route to host"), ("Network is unreachable", "network unreachable"),
      ("Connection reset", "connection reset"),
    ] where text.contains(needle) {
      return plain
    }
    return text
  }

  public var isClosed: Bool { !channel.isActive }

  /// Sends a request (with an optional body, streamed in chunks) and waits for its reply.
  public func call(
    _ kind: MessageKind, payload: ByteBuffer, body: [UInt8]? = nil, timeout: Duration = .seconds(30),
    maxReplyBodyBytes: Int = Limits.maxBlockBytes
  ) async throws(CairnError) -> WireReply {
    let promise = channel.eventLoop.makePromise(of: WireReply.self)
    let timeoutNanos =
      Int64(timeout.components.seconds) * 1_000_000_000 + Int64(timeout.components.attoseconds / 1_000_000_000)
    channel.eventLoop.execute { [handler, channel] in
      handler.send(
        kind: kind, payload: payload, body: body, promise: promise, channel: channel,
        timeout: .nanoseconds(timeoutNanos), maxReplyBodyBytes: maxReplyBodyBytes)
    }
    do {
      return try await promise.futureResult.get()
    } catch let error as CairnError {
      throw error
    } catch {
      throw CairnError(.unavailable, "request to \(address) failed: \(Self.describe(error))")
    }
  }

  /// Sends a request without a body and calls `completion` with its reply or error (on the
  /// connection's event loop): `call` without a task or continuation of its own, for callers that
  /// race the reply against something else.
  public func start(
    _ kind: MessageKind, payload: ByteBuffer, timeout: Duration,
    completion: @escaping @Sendable (Result<WireReply, CairnError>) -> Void
  ) {
    let promise = channel.eventLoop.makePromise(of: WireReply.self)
    let timeoutNanos =
      Int64(timeout.components.seconds) * 1_000_000_000 + Int64(timeout.components.attoseconds / 1_000_000_000)
    let address = address
    promise.futureResult.whenComplete { result in
      switch result {
      case .success(let reply): completion(.success(reply))
      case .failure(let error as CairnError): completion(.failure(error))
      case .failure(let error):
        completion(.failure(CairnError(.unavailable, "request to \(address) failed: \(Self.describe(error))")))
      }
    }
    channel.eventLoop.execute { [handler, channel] in
      handler.send(
        kind: kind, payload: payload, body: nil, promise: promise, channel: channel,
        timeout: .nanoseconds(timeoutNanos), maxReplyBodyBytes: Limits.maxBlockBytes)
    }
  }

  /// The event loop the connection runs on (for timers of its callers).
  public var eventLoop: any EventLoop { channel.eventLoop }

  public func close() {
    channel.close(promise: nil)
  }
}

/// Client-side connection state, confined to the channel's event loop.
final class ClientConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = Frame
  typealias OutboundOut = Frame

  private struct Pending {
    var promise: EventLoopPromise<WireReply>
    var head: ByteBuffer?
    var body: [UInt8] = []
    var maxBody: Int
    var timeout: Scheduled<Void>?
  }

  private let address: ServerAddress
  private var pending: [UInt64: Pending] = [:]
  private var nextRequestId: UInt64 = 1
  private var isActive = true

  init(address: ServerAddress) { self.address = address }

  func send(
    kind: MessageKind, payload: ByteBuffer, body: [UInt8]?, promise: EventLoopPromise<WireReply>,
    channel: any Channel, timeout: TimeAmount, maxReplyBodyBytes: Int
  ) {
    guard isActive, channel.isActive else {
      promise.fail(CairnError(.unavailable, "connection to \(address) is closed"))
      return
    }
    let id = nextRequestId
    nextRequestId += 1
    let scheduled = channel.eventLoop.scheduleTask(in: timeout) { [weak self] in
      guard let self, let entry = self.pending.removeValue(forKey: id) else { return }
      entry.promise.fail(
        CairnError(.timeout, "no reply from \(self.address) within \(timeout.nanoseconds / 1_000_000) ms"))
    }
    pending[id] = Pending(promise: promise, maxBody: maxReplyBodyBytes, timeout: scheduled)
    if let body {
      channel.write(Frame(kind: kind, flags: .hasBody, requestId: id, payload: payload), promise: nil)
      var offset = 0
      repeat {
        let end = min(offset + Limits.bodyChunkBytes, body.count)
        let flags: FrameFlags = end == body.count ? [.body, .endOfBody] : [.body]
        channel.write(
          Frame(kind: kind, flags: flags, requestId: id, payload: ByteBuffer(bytes: body[offset..<end])), promise: nil)
        offset = end
      } while offset < body.count
      channel.flush()
    } else {
      channel.writeAndFlush(Frame(kind: kind, flags: [], requestId: id, payload: payload), promise: nil)
    }
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = unwrapInboundIn(data)
    guard frame.flags.contains(.response) else {
      return fail(context, CairnError(.protocolError, "\(address) sent a request frame to a client"))
    }
    if frame.flags.contains(.error) {
      let error =
        (try? WireCodec.decode(CairnError.self, from: frame.payload))
        ?? CairnError(.protocolError, "\(address) sent an undecodable error")
      if frame.requestId == 0 || pending[frame.requestId] == nil {
        // A connection-level error (e.g. protocol version): fail everything.
        return fail(context, error)
      }
      complete(frame.requestId, .failure(error))
      return
    }
    guard var entry = pending[frame.requestId] else { return }  // timed out already
    if frame.flags.contains(.body) {
      guard entry.head != nil else {
        return fail(context, CairnError(.protocolError, "\(address) sent a body before its head"))
      }
      guard entry.body.count + frame.payload.readableBytes <= entry.maxBody else {
        complete(
          frame.requestId, .failure(CairnError(.tooLarge, "reply body from \(address) exceeds \(entry.maxBody) bytes")))
        return fail(context, CairnError(.protocolError, "oversized reply body"))
      }
      entry.body.append(contentsOf: frame.payload.readableBytesView)
      if frame.flags.contains(.endOfBody) {
        let reply = WireReply(payload: entry.head ?? ByteBuffer(), body: entry.body)
        complete(frame.requestId, .success(reply))
      } else {
        pending[frame.requestId] = entry
      }
      return
    }
    if frame.flags.contains(.hasBody) {
      entry.head = frame.payload
      pending[frame.requestId] = entry
      return
    }
    complete(frame.requestId, .success(WireReply(payload: frame.payload, body: nil)))
  }

  private func complete(_ id: UInt64, _ result: Result<WireReply, CairnError>) {
    guard let entry = pending.removeValue(forKey: id) else { return }
    entry.timeout?.cancel()
    switch result {
    case .success(let reply): entry.promise.succeed(reply)
    case .failure(let error): entry.promise.fail(error)
    }
  }

  private func fail(_ context: ChannelHandlerContext, _ error: CairnError) {
    failAll(error)
    context.close(promise: nil)
  }

  private func failAll(_ error: CairnError) {
    isActive = false
    let all = pending
    pending.removeAll()
    for (_, entry) in all {
      entry.timeout?.cancel()
      entry.promise.fail(error)
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    failAll(CairnError(.unavailable, "connection to \(address) closed"))
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    if let frameError = error as? FrameError {
      return fail(context, CairnError(.protocolError, "bad data from \(address): \(frameError.description)"))
    }
    // An I/O error (connection reset…): the server may or may not have received the requests.
    fail(context, CairnError(.unavailable, "connection to \(address) failed: \(WireConnection.describe(error))"))
  }
}
