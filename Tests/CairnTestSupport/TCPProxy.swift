import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A loopback TCP forwarder that a test can cut: while blocked, its open connections are shut
/// down and new ones are accepted but never forwarded (what is sent vanishes, as in a network
/// partition); unblocking drops the held connections so both sides reconnect. Blocking POSIX
/// sockets, one thread per direction of each connection.
public final class TCPProxy: @unchecked Sendable {
  public let port: Int
  public let targetPort: Int
  private let listenFD: Int32
  private let lock = NSLock()
  private var blocked = false
  private var stopped = false
  private var forwarding: Set<Int32> = []
  private var held: Set<Int32> = []

  /// Listens on an ephemeral loopback port and forwards to `127.0.0.1:targetPort`.
  public init(targetPort: Int) throws {
    self.targetPort = targetPort
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw NSError(domain: "TCPProxy", code: Int(errno)) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = Self.loopback(port: 0)
    let bound = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, listen(fd, 64) == 0 else {
      close(fd)
      throw NSError(domain: "TCPProxy", code: Int(errno))
    }
    var actual = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &actual) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    listenFD = fd
    port = Int(UInt16(bigEndian: actual.sin_port))
    let thread = Thread { [self] in acceptLoop() }
    thread.start()
  }

  deinit { stop() }

  /// Cuts (true) or restores (false) the link.
  public func setBlocked(_ value: Bool) {
    let toShut: Set<Int32> = lock.withLock {
      blocked = value
      if value {
        let all = forwarding
        return all
      }
      let all = held
      held = []
      return all
    }
    for fd in toShut { shutdown(fd, Int32(SHUT_RDWR)) }
  }

  public func stop() {
    let all: Set<Int32> = lock.withLock {
      guard !stopped else { return [] }
      stopped = true
      return forwarding.union(held)
    }
    shutdown(listenFD, Int32(SHUT_RDWR))
    for fd in all { shutdown(fd, Int32(SHUT_RDWR)) }
  }

  private static func loopback(port: Int) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    return addr
  }

  private func acceptLoop() {
    while true {
      let client = accept(listenFD, nil, nil)
      if client < 0 {
        if errno == EINTR { continue }
        close(listenFD)
        return
      }
      let (isStopped, isBlocked) = lock.withLock { (stopped, blocked) }
      if isStopped {
        close(client)
        continue
      }
      if isBlocked {
        lock.withLock { _ = held.insert(client) }
        Thread { [self] in discard(client) }.start()
        continue
      }
      let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var addr = Self.loopback(port: targetPort)
      let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      guard connected == 0 else {
        close(upstream)
        close(client)
        continue
      }
      lock.withLock {
        forwarding.insert(client)
        forwarding.insert(upstream)
      }
      let done = DispatchGroup()
      for (from, to) in [(client, upstream), (upstream, client)] {
        done.enter()
        Thread { [self] in
          pump(from: from, to: to)
          done.leave()
        }.start()
      }
      Thread { [self] in
        done.wait()
        lock.withLock {
          forwarding.remove(client)
          forwarding.remove(upstream)
        }
        close(client)
        close(upstream)
      }.start()
    }
  }

  private func pump(from: Int32, to: Int32) {
    var buffer = [UInt8](repeating: 0, count: 64 << 10)
    while true {
      let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
      if n <= 0 || lock.withLock({ blocked }) { break }
      var sent = 0
      while sent < n {
        let m = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
        if m <= 0 { break }
        sent += m
      }
      if sent < n { break }
    }
    shutdown(from, Int32(SHUT_RDWR))
    shutdown(to, Int32(SHUT_RDWR))
  }

  private func discard(_ fd: Int32) {
    var buffer = [UInt8](repeating: 0, count: 16 << 10)
    while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    lock.withLock { _ = held.remove(fd) }
    close(fd)
  }
}
