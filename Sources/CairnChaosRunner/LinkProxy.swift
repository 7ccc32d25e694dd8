import CairnChaos
import CairnCore
import Foundation
import NIOCore
import NIOPosix

/// How one link's traffic is treated right now. `up` is what the connecting node sends, `down`
/// what it receives.
struct LinkConditions: Sendable, Equatable {
  var isUpBlocked = false
  var isDownBlocked = false
  var delayMilliseconds = 0
  var lossProbability = 0.0

  static let normal = LinkConditions()
}

/// A TCP proxy the harness puts on one link between two nodes (`from` connects through it to
/// `to`). It can hold traffic in either direction (a partition: bytes are kept, as TCP would keep
/// retransmitting them, and delivered when the link heals), delay it, or lose segments (each loss
/// holds the stream for a retransmission timeout: 200 ms, doubling while losses repeat).
final class LinkProxy: @unchecked Sendable {
  let from: String
  let to: String
  let listenPort: Int
  let targetPort: Int
  private let lock = NSLock()
  private var conditions = LinkConditions.normal
  private var pipes: [ObjectIdentifier: ProxyPipe] = [:]
  private var serverChannel: (any Channel)?
  private let seed: UInt64
  /// Most bytes held per direction of one connection; past it the connection is closed (as TCP
  /// would give up).
  static let maxHeldBytes = 64 << 20

  init(from: String, to: String, listenPort: Int, targetPort: Int, seed: UInt64) {
    self.from = from
    self.to = to
    self.listenPort = listenPort
    self.targetPort = targetPort
    self.seed = seed
  }

  var current: LinkConditions { lock.withLock { conditions } }

  func set(_ change: (inout LinkConditions) -> Void) {
    let all: [ProxyPipe] = lock.withLock {
      change(&conditions)
      return Array(pipes.values)
    }
    for pipe in all { pipe.eventLoop.execute { pipe.drain() } }
  }

  func start(group: any EventLoopGroup) async throws(CairnError) {
    let target = targetPort
    do {
      serverChannel = try await ServerBootstrap(group: group)
        .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(ChannelOptions.autoRead, value: false)
        .childChannelInitializer { [self] child in
          let up = ProxyPipe(link: self, direction: .up, eventLoop: child.eventLoop, seed: self.nextSeed())
          let down = ProxyPipe(link: self, direction: .down, eventLoop: child.eventLoop, seed: self.nextSeed())
          up.closeOther = { [weak down] in down?.closeOutput() }
          down.closeOther = { [weak up] in up?.closeOutput() }
          return child.pipeline.addHandler(ProxyReader(pipe: up)).flatMap {
            ClientBootstrap(group: child.eventLoop)
              .channelInitializer { $0.pipeline.addHandler(ProxyReader(pipe: down)) }
              .connectTimeout(.seconds(3))
              .connect(host: "127.0.0.1", port: target)
          }.map { upstream in
            up.output = upstream
            down.output = child
            self.register(up)
            self.register(down)
            child.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in child.read() }
          }.flatMapErrorThrowing { error in
            child.close(promise: nil)
            throw error
          }
        }
        .bind(host: "127.0.0.1", port: listenPort).get()
    } catch {
      throw CairnError(.unavailable, "cannot start the proxy \(from)→\(to) on port \(listenPort): \(error)")
    }
  }

  func stop() async {
    try? await serverChannel?.close()
    let all = lock.withLock { Array(pipes.values) }
    for pipe in all { pipe.eventLoop.execute { pipe.closeOutput() } }
  }

  private var seedCounter: UInt64 = 0
  private func nextSeed() -> UInt64 {
    lock.withLock {
      seedCounter += 1
      return seed &+ seedCounter &* 0x9E37_79B9
    }
  }

  func register(_ pipe: ProxyPipe) { lock.withLock { pipes[ObjectIdentifier(pipe)] = pipe } }
  func unregister(_ pipe: ProxyPipe) { _ = lock.withLock { pipes.removeValue(forKey: ObjectIdentifier(pipe)) } }
}

/// One direction of one proxied connection. Confined to its event loop.
final class ProxyPipe: @unchecked Sendable {
  enum Direction { case up, down }
  unowned let link: LinkProxy
  let direction: Direction
  let eventLoop: any EventLoop
  var output: (any Channel)?
  var closeOther: (() -> Void)?
  private var queue: [(at: NIODeadline, bytes: ByteBuffer)] = []
  private var head = 0
  private var heldBytes = 0
  private var lastAt = NIODeadline.uptimeNanoseconds(0)
  private var scheduled: Scheduled<Void>?
  private var consecutiveLosses = 0
  private var random: CairnChaos.SeededRandom
  private var closing = false

  init(link: LinkProxy, direction: Direction, eventLoop: any EventLoop, seed: UInt64) {
    self.link = link
    self.direction = direction
    self.eventLoop = eventLoop
    self.random = CairnChaos.SeededRandom(seed: seed)
  }

  func push(_ bytes: ByteBuffer) {
    let c = link.current
    var delay = TimeAmount.milliseconds(Int64(c.delayMilliseconds))
    if c.lossProbability > 0 && random.unit() < c.lossProbability {
      consecutiveLosses += 1
      delay = delay + .milliseconds(Int64(200 << min(consecutiveLosses - 1, 4)))
    } else {
      consecutiveLosses = 0
    }
    let at = max(NIODeadline.now() + delay, lastAt)
    lastAt = at
    queue.append((at, bytes))
    heldBytes += bytes.readableBytes
    if heldBytes > LinkProxy.maxHeldBytes {
      closeOutput()
      closeOther?()
      return
    }
    drain()
  }

  /// Sends what is due unless this direction is blocked; schedules itself for the rest.
  func drain() {
    guard let output, !closing else { return }
    let c = link.current
    let blocked = direction == .up ? c.isUpBlocked : c.isDownBlocked
    if blocked { return }
    let now = NIODeadline.now()
    var wrote = false
    while head < queue.count, queue[head].at <= now {
      heldBytes -= queue[head].bytes.readableBytes
      output.write(queue[head].bytes, promise: nil)
      head += 1
      wrote = true
    }
    if head > 1024 && head * 2 > queue.count {
      queue.removeFirst(head)
      head = 0
    }
    if wrote { output.flush() }
    if head < queue.count && scheduled == nil {
      scheduled = eventLoop.scheduleTask(deadline: queue[head].at) { [self] in
        scheduled = nil
        drain()
      }
    }
  }

  func closeOutput() {
    guard !closing else { return }
    closing = true
    scheduled?.cancel()
    output?.close(promise: nil)
    link.unregister(self)
  }
}

/// Reads one side of a proxied connection into its pipe.
final class ProxyReader: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer
  let pipe: ProxyPipe

  init(pipe: ProxyPipe) { self.pipe = pipe }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    pipe.push(unwrapInboundIn(data))
  }

  func channelInactive(context: ChannelHandlerContext) {
    // Deliver what may still go, then close the other side.
    pipe.drain()
    pipe.closeOther?()
    pipe.closeOutput()
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }
}
