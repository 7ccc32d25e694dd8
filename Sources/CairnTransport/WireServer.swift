import CairnCore
import CairnWire
import Logging
import NIOCore
import NIOPosix

/// A request as a service sees it.
public struct IncomingRequest: Sendable {
  public let kind: MessageKind
  public let payload: ByteBuffer
  /// The request's body, when its head frame announced one.
  public let body: BodyStream?
  public let peer: String
}

/// What a service answers: a payload and, optionally, a body sent as body frames.
public struct OutgoingReply: Sendable {
  public var payload: ByteBuffer
  public var body: [UInt8]?

  public init(payload: ByteBuffer, body: [UInt8]? = nil) {
    self.payload = payload
    self.body = body
  }
}

/// A service behind a `WireServer`.
public protocol RequestHandler: Sendable {
  func handle(_ request: IncomingRequest) async throws(CairnError) -> OutgoingReply

  /// Takes a one-way request (`FrameFlags.oneWay`: no reply, no body). Called on the
  /// connection's event loop, in frame order, so it must only hand the request on (no blocking,
  /// no waiting). A thrown error closes the connection with a connection-level error frame.
  func receiveOneWay(_ request: IncomingRequest) throws(CairnError)

  /// Offers a request without a body to be answered without a task of its own: called on the
  /// connection's event loop, it must not block. Returns false to leave the request to `handle`;
  /// when it returns true it calls `reply` exactly once, from any thread. The hot path of a
  /// metadata commit uses it (no hop to the cooperative pool and back per request).
  func handleInline(
    _ request: IncomingRequest, reply: @escaping @Sendable (Result<OutgoingReply, CairnError>) -> Void
  ) -> Bool
}

extension RequestHandler {
  public func handleInline(
    _ request: IncomingRequest, reply: @escaping @Sendable (Result<OutgoingReply, CairnError>) -> Void
  ) -> Bool { false }

  public func receiveOneWay(_ request: IncomingRequest) throws(CairnError) {
    throw CairnError(.protocolError, "this server takes no one-way requests of kind \(request.kind)")
  }
}

/// A TCP server speaking the Cairn frame protocol. Each connection multiplexes up to
/// `Limits.maxInFlightRequestsPerConnection` requests; a malformed frame gets an error frame and
/// closes only its own connection.
public final class WireServer: Sendable {
  public let localAddress: ServerAddress
  private let channel: any Channel

  private init(channel: any Channel, localAddress: ServerAddress) {
    self.channel = channel
    self.localAddress = localAddress
  }

  /// Binds and starts serving. Fails with a clear error when the port is in use.
  public static func start(
    at address: ServerAddress, handler: any RequestHandler, role: String, logger: Logger,
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) async throws(CairnError) -> WireServer {
    let bootstrap = ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelOption(.maxMessagesPerRead, value: 16)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          let peer = channel.remoteAddress?.description ?? "unknown"
          try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
          try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
          try channel.pipeline.syncOperations.addHandler(
            ServerConnectionHandler(handler: handler, role: role, peer: peer, logger: logger))
        }
      }
    do {
      let channel = try await bootstrap.bind(host: address.host, port: address.port).get()
      let port = channel.localAddress?.port ?? address.port
      return WireServer(channel: channel, localAddress: ServerAddress(host: address.host, port: port))
    } catch let error as IOError where error.errnoCode == EADDRINUSE {
      throw CairnError(.unavailable, "cannot listen on \(address): the port is already in use")
    } catch {
      throw CairnError(.unavailable, "cannot listen on \(address): \(error)")
    }
  }

  /// Stops accepting connections.
  public func close() async {
    try? await channel.close()
  }

  /// Waits until the server channel closes.
  public func waitUntilClosed() async {
    try? await channel.closeFuture.get()
  }
}

/// Per-connection state; confined to the channel's event loop.
final class ServerConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = Frame
  typealias OutboundOut = Frame

  private let handler: any RequestHandler
  private let role: String
  private let peer: String
  private var logger: Logger
  private var bodies: [UInt64: BodyStream] = [:]
  private var inFlight = 0
  private var pausedForBodies = Set<UInt64>()

  init(handler: any RequestHandler, role: String, peer: String, logger: Logger) {
    self.handler = handler
    self.role = role
    self.peer = peer
    self.logger = logger
    self.logger[metadataKey: "peer"] = "\(peer)"
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = unwrapInboundIn(data)
    if frame.flags.contains(.response) {
      return protocolFailure(context, "a client sent a response frame", requestId: frame.requestId)
    }
    if frame.flags.contains(.oneWay) {
      guard frame.flags.isDisjoint(with: [.hasBody, .body, .endOfBody]), frame.requestId == 0 else {
        return protocolFailure(context, "a one-way frame with a body or a request id", requestId: 0)
      }
      do throws(CairnError) {
        try handler.receiveOneWay(IncomingRequest(kind: frame.kind, payload: frame.payload, body: nil, peer: peer))
      } catch {
        logger.warning("closing connection: bad one-way request", metadata: ["error": "\(error)"])
        let out = Frame(kind: frame.kind, flags: [.response, .error], requestId: 0, payload: WireCodec.encode(error))
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
      }
      return
    }
    if frame.flags.contains(.body) {
      guard let stream = bodies[frame.requestId] else {
        return protocolFailure(context, "body frame for unknown request \(frame.requestId)", requestId: frame.requestId)
      }
      let shouldPause = stream.yield(frame.payload)
      if frame.flags.contains(.endOfBody) {
        stream.finish()
        bodies[frame.requestId] = nil
      }
      if shouldPause { pauseReading(context, for: frame.requestId) }
      return
    }
    if frame.kind == .hello {
      let reply = Hello(role: role, build: "cairn \(Frame.protocolVersion)")
      let out = Frame(kind: .hello, flags: .response, requestId: frame.requestId, payload: WireCodec.encode(reply))
      context.writeAndFlush(wrapOutboundOut(out), promise: nil)
      return
    }
    var body: BodyStream?
    if frame.flags.contains(.hasBody) {
      guard bodies[frame.requestId] == nil else {
        return protocolFailure(context, "request id \(frame.requestId) reused mid-body", requestId: frame.requestId)
      }
      let channel = context.channel
      let requestId = frame.requestId
      let stream = BodyStream(onDrain: { [self] in
        channel.eventLoop.execute { self.resumeReading(channel, for: requestId) }
      })
      bodies[frame.requestId] = stream
      body = stream
    }
    inFlight += 1
    if inFlight >= Limits.maxInFlightRequestsPerConnection {
      context.channel.setOption(.autoRead, value: false).whenComplete { _ in }
    }
    let request = IncomingRequest(kind: frame.kind, payload: frame.payload, body: body, peer: peer)
    let channel = context.channel
    let handler = self.handler
    let kind = frame.kind
    let requestId = frame.requestId
    if body == nil {
      let taken = handler.handleInline(request) { result in
        let frames: [Frame]
        switch result {
        case .success(let reply): frames = Self.responseFrames(kind: kind, requestId: requestId, reply: reply)
        case .failure(let error):
          frames = [
            Frame(kind: kind, flags: [.response, .error], requestId: requestId, payload: WireCodec.encode(error))
          ]
        }
        channel.eventLoop.execute { self.finishRequest(channel, frames: frames) }
      }
      if taken { return }
    }
    Task {
      let frames: [Frame]
      do throws(CairnError) {
        let reply = try await handler.handle(request)
        frames = Self.responseFrames(kind: kind, requestId: requestId, reply: reply)
      } catch {
        frames = [
          Frame(kind: kind, flags: [.response, .error], requestId: requestId, payload: WireCodec.encode(error))
        ]
      }
      // Drain an unread body so the connection stays in sync.
      if let body { while (try? await body.next()) != nil {} }
      channel.eventLoop.execute { self.finishRequest(channel, frames: frames) }
    }
  }

  static func responseFrames(kind: MessageKind, requestId: UInt64, reply: OutgoingReply) -> [Frame] {
    guard let body = reply.body else {
      return [Frame(kind: kind, flags: .response, requestId: requestId, payload: reply.payload)]
    }
    var frames = [Frame(kind: kind, flags: [.response, .hasBody], requestId: requestId, payload: reply.payload)]
    var offset = 0
    repeat {
      let end = min(offset + Limits.bodyChunkBytes, body.count)
      let flags: FrameFlags = end == body.count ? [.response, .body, .endOfBody] : [.response, .body]
      frames.append(
        Frame(kind: kind, flags: flags, requestId: requestId, payload: ByteBuffer(bytes: body[offset..<end])))
      offset = end
    } while offset < body.count
    return frames
  }

  private func finishRequest(_ channel: any Channel, frames: [Frame]) {
    for frame in frames { channel.write(frame, promise: nil) }
    channel.flush()
    inFlight -= 1
    if inFlight == Limits.maxInFlightRequestsPerConnection - 1 && pausedForBodies.isEmpty {
      channel.setOption(.autoRead, value: true).whenComplete { _ in }
      channel.read()
    }
  }

  private func pauseReading(_ context: ChannelHandlerContext, for requestId: UInt64) {
    pausedForBodies.insert(requestId)
    context.channel.setOption(.autoRead, value: false).whenComplete { _ in }
  }

  private func resumeReading(_ channel: any Channel, for requestId: UInt64) {
    guard pausedForBodies.remove(requestId) != nil, pausedForBodies.isEmpty,
      inFlight < Limits.maxInFlightRequestsPerConnection
    else { return }
    channel.setOption(.autoRead, value: true).whenComplete { _ in }
    channel.read()
  }

  private func protocolFailure(_ context: ChannelHandlerContext, _ reason: String, requestId: UInt64) {
    logger.warning("closing connection: \(reason)")
    let error = CairnError(.protocolError, reason)
    let out = Frame(kind: .meta, flags: [.response, .error], requestId: requestId, payload: WireCodec.encode(error))
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    let reason: String
    if let frameError = error as? FrameError {
      reason = frameError.description
    } else if let decoderError = error as? ByteToMessageDecoderError {
      reason = "undecodable bytes: \(decoderError)"
    } else {
      logger.debug("connection error: \(error)")
      context.close(promise: nil)
      return
    }
    protocolFailure(context, reason, requestId: 0)
  }

  func channelInactive(context: ChannelHandlerContext) {
    for (_, stream) in bodies {
      stream.finish(failure: CairnError(.unavailable, "connection from \(peer) closed mid-body"))
    }
    bodies.removeAll()
    context.fireChannelInactive()
  }
}
