import CairnChaos
import CairnCore
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

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
/// `to`). It can hold traffic in either direction (a partition: bytes are kept, as TCP keeps
/// retransmitting them, and delivered when the link heals), delay it, or lose segments (each loss
/// holds the stream for a retransmission timeout: 200 ms, doubling while losses repeat, as TCP
/// does). Plain blocking sockets, two threads per direction of each connection.
final class LinkProxy: @unchecked Sendable {
  let from: String
  let to: String
  let listenPort: Int
  let targetPort: Int
  private let lock = NSLock()
  private var conditions = LinkConditions.normal
  private var pumps: [ObjectIdentifier: Pump] = [:]
  private var listenFd: Int32 = -1
  private var seed: UInt64
  private var isStopped = false
  private var isWatching = false
  /// Most bytes held per direction of one connection; past it the connection is reset (as TCP
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
    let all: [Pump] = lock.withLock {
      change(&conditions)
      return Array(pumps.values)
    }
    for pump in all { pump.wake() }
  }

  /// Listens; while the target is down the proxy does not listen, so a connecting node gets
  /// "connection refused" at once, as it would from the dead server itself.
  func start() throws(CairnError) {
    let fd = try Self.listenSocket(port: listenPort, what: "the proxy \(from)→\(to)")
    lock.withLock { listenFd = fd }
    Thread { [self] in acceptLoop(fd) }.start()
  }

  /// Stops listening until the target accepts connections again (a watcher thread checks every
  /// 50 ms). Called when the harness kills the target, and when a connect to it fails.
  func targetWentDown() {
    let fd: Int32 = lock.withLock {
      guard listenFd >= 0, !isWatching else { return -1 }
      isWatching = true
      defer { listenFd = -1 }
      return listenFd
    }
    guard fd >= 0 else { return }
    shutdown(fd, Int32(SHUT_RDWR))
    close(fd)
    Thread { [self] in
      while !lock.withLock({ isStopped }) {
        usleep(50_000)
        guard Self.accepts(port: targetPort) else { continue }
        guard let fd = try? Self.listenSocket(port: listenPort, what: "the proxy") else { continue }
        let stopped = lock.withLock { () -> Bool in
          isWatching = false
          if isStopped { return true }
          listenFd = fd
          return false
        }
        if stopped {
          close(fd)
          return
        }
        acceptLoop(fd)
        return
      }
    }.start()
  }

  /// Whether something accepts TCP connections on the port (a connect that succeeds).
  static func accepts(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = loopback(port: port)
    return withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
  }

  static func listenSocket(port: Int, what: String) throws(CairnError) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = loopback(port: port)
    let bound = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard fd >= 0, bound == 0, listen(fd, 128) == 0 else {
      let reason = String(cString: strerror(errno))
      if fd >= 0 { close(fd) }
      throw CairnError(.unavailable, "cannot start \(what) on port \(port): \(reason)")
    }
    return fd
  }

  private func acceptLoop(_ fd: Int32) {
    while true {
      let client = accept(fd, nil, nil)
      if client < 0 {
        if errno == EINTR { continue }
        return
      }
      if lock.withLock({ isStopped }) {
        close(client)
        return
      }
      Thread { [self] in connect(client) }.start()
    }
  }

  private func connect(_ client: Int32) {
    let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = Self.loopback(port: targetPort)
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else {
      // The target is down: this connection is dropped, later ones are refused.
      close(upstream)
      close(client)
      targetWentDown()
      return
    }
    var one: Int32 = 1
    for fd in [client, upstream] { setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) }
    let connection = ProxyConnection(client: client, upstream: upstream)
    let seeds: (UInt64, UInt64) = lock.withLock {
      seed = seed &+ 0x9E37_79B9_7F4A_7C15
      return (seed, seed ^ 0x5555)
    }
    let up = Pump(link: self, isUp: true, source: client, destination: upstream, connection: connection, seed: seeds.0)
    let down = Pump(link: self, isUp: false, source: upstream, destination: client, connection: connection, seed: seeds.1)
    lock.withLock {
      pumps[ObjectIdentifier(up)] = up
      pumps[ObjectIdentifier(down)] = down
    }
    up.start()
    down.start()
  }

  func finished(_ pump: Pump) { _ = lock.withLock { pumps.removeValue(forKey: ObjectIdentifier(pump)) } }

  func stop() {
    let (all, fd): ([Pump], Int32) = lock.withLock {
      isStopped = true
      defer { listenFd = -1 }
      return (Array(pumps.values), listenFd)
    }
    if fd >= 0 {
      shutdown(fd, Int32(SHUT_RDWR))
      close(fd)
    }
    for pump in all { pump.connection.reset() }
  }

  static func loopback(port: Int) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    return addr
  }
}

/// The two sockets of one proxied connection; closed once both directions are done.
final class ProxyConnection: @unchecked Sendable {
  let client: Int32
  let upstream: Int32
  private let lock = NSLock()
  private var finishedDirections = 0
  private var isReset = false

  init(client: Int32, upstream: Int32) {
    self.client = client
    self.upstream = upstream
  }

  /// Tears both sockets down (wakes blocked readers and writers).
  func reset() {
    lock.withLock { isReset = true }
    shutdown(client, Int32(SHUT_RDWR))
    shutdown(upstream, Int32(SHUT_RDWR))
  }

  var wasReset: Bool { lock.withLock { isReset } }

  func directionFinished() {
    let both = lock.withLock { () -> Bool in
      finishedDirections += 1
      return finishedDirections == 2
    }
    if both {
      close(client)
      close(upstream)
    }
  }
}

/// One direction of one connection: a reader thread queues what arrives with the time it may
/// be delivered; a writer thread delivers it in order, unless the direction is blocked.
final class Pump: @unchecked Sendable {
  unowned let link: LinkProxy
  let isUp: Bool
  let source: Int32
  let destination: Int32
  let connection: ProxyConnection
  private let condition = NSCondition()
  private var queue: [(at: ContinuousClock.Instant, bytes: [UInt8])] = []
  private var heldBytes = 0
  private var lastAt = ContinuousClock.now
  private var sourceEnded = false
  private var consecutiveLosses = 0
  private var random: SeededRandom

  init(link: LinkProxy, isUp: Bool, source: Int32, destination: Int32, connection: ProxyConnection, seed: UInt64) {
    self.link = link
    self.isUp = isUp
    self.source = source
    self.destination = destination
    self.connection = connection
    random = SeededRandom(seed: seed)
  }

  func start() {
    Thread { [self] in readLoop() }.start()
    Thread { [self] in writeLoop() }.start()
  }

  func wake() {
    condition.lock()
    condition.broadcast()
    condition.unlock()
  }

  private func readLoop() {
    var buffer = [UInt8](repeating: 0, count: 64 << 10)
    while true {
      let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      condition.lock()
      if n <= 0 {
        sourceEnded = true
        condition.broadcast()
        condition.unlock()
        return
      }
      let c = link.current
      var delay = Duration.milliseconds(c.delayMilliseconds)
      if c.lossProbability > 0 && random.unit() < c.lossProbability {
        consecutiveLosses += 1
        delay += .milliseconds(200 << min(consecutiveLosses - 1, 4))
      } else {
        consecutiveLosses = 0
      }
      let at = max(ContinuousClock.now + delay, lastAt)
      lastAt = at
      queue.append((at, Array(buffer[0..<n])))
      heldBytes += n
      let overflow = heldBytes > LinkProxy.maxHeldBytes
      condition.broadcast()
      condition.unlock()
      if overflow {
        connection.reset()
        return
      }
    }
  }

  private func writeLoop() {
    defer {
      link.finished(self)
      connection.directionFinished()
    }
    while true {
      condition.lock()
      var next: [UInt8]?
      while next == nil {
        if connection.wasReset {
          condition.unlock()
          return
        }
        let c = link.current
        let blocked = isUp ? c.isUpBlocked : c.isDownBlocked
        if let head = queue.first, !blocked {
          let now = ContinuousClock.now
          if head.at <= now {
            next = queue.removeFirst().bytes
            heldBytes -= next?.count ?? 0
            break
          }
          let wait = head.at - now
          _ = condition.wait(until: Date().addingTimeInterval(Double(wait.components.attoseconds) / 1e18 + Double(wait.components.seconds)))
        } else if queue.isEmpty && sourceEnded {
          condition.unlock()
          shutdown(destination, Int32(SHUT_WR))
          return
        } else {
          _ = condition.wait(until: Date().addingTimeInterval(0.5))
        }
      }
      condition.unlock()
      guard let bytes = next, writeAll(bytes) else {
        connection.reset()
        return
      }
    }
  }

  private func writeAll(_ bytes: [UInt8]) -> Bool {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { send(destination, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { return false }
      done += n
    }
    return true
  }
}
