import CairnChaos
import Foundation
import XCTest

@testable import CairnChaosRunner

/// A blocking TCP echo server on a free loopback port, for proxy tests.
final class EchoServer: @unchecked Sendable {
  private(set) var port: Int
  private let fd: Int32

  init(port wanted: Int = 0) throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    self.fd = fd
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(wanted).bigEndian)
    addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    port = 0
    let ok = withUnsafeMutablePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok, listen(fd, 16) == 0 else { throw CocoaError(.fileWriteUnknown) }
    self.port = Int(UInt16(bigEndian: addr.sin_port))
    let listener = fd
    Thread {
      while true {
        let c = accept(listener, nil, nil)
        if c < 0 { return }
        Thread {
          var buffer = [UInt8](repeating: 0, count: 65536)
          while true {
            let n = read(c, &buffer, buffer.count)
            if n <= 0 { break }
            _ = buffer.withUnsafeBytes { write(c, $0.baseAddress, n) }
          }
          close(c)
        }.start()
      }
    }.start()
  }

  func stop() {
    shutdown(fd, Int32(SHUT_RDWR))
    close(fd)
  }
}

/// A blocking client connection with a receive timeout.
struct TestSocket {
  let fd: Int32

  init(port: Int) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw CocoaError(.fileReadUnknown) }
    var tv = timeval(tv_sec: 0, tv_usec: 300_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
  }

  func send(_ text: String) { _ = text.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, text.utf8.count) } }

  /// What arrives within `seconds` (in 300 ms receive slices).
  func receive(within seconds: Double) -> String {
    var out: [UInt8] = []
    let deadline = Date().addingTimeInterval(seconds)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while Date() < deadline {
      let n = read(fd, &buffer, buffer.count)
      if n > 0 { out += buffer[0..<n] } else if n == 0 { break }
    }
    return String(decoding: out, as: UTF8.self)
  }

  func close() { Glibc.close(fd) }
}

final class LinkProxyTests: XCTestCase {
  var echo: EchoServer!
  var network: ProxyNetwork!
  var port = 0

  override func setUp() async throws {
    echo = try EchoServer()
    network = ProxyNetwork(seed: 1)
    port = ChaosCluster.freeBasePort(count: 1)
    try await network.add(from: "a", to: "b", listenPort: port, targetPort: echo.port)
  }

  override func tearDown() async throws {
    await network.shutdown()
    echo.stop()
  }

  func testForwardsBothWays() throws {
    let direct = try TestSocket(port: echo.port)
    direct.send("direct")
    XCTAssertEqual(direct.receive(within: 1), "direct")
    direct.close()
    let s = try TestSocket(port: port)
    defer { s.close() }
    s.send("hello")
    XCTAssertEqual(s.receive(within: 1), "hello")
  }

  func testPartitionHoldsTrafficAndHealDeliversIt() throws {
    let s = try TestSocket(port: port)
    defer { s.close() }
    s.send("one")
    XCTAssertEqual(s.receive(within: 1), "one")
    network.partition(["a"], ["b"], oneWay: false)
    s.send("two")
    XCTAssertEqual(s.receive(within: 1), "", "a partition delivered bytes")
    network.heal(["a"])
    XCTAssertEqual(s.receive(within: 1), "two")
  }

  func testOneWayPartitionBlocksOnlyOneDirection() throws {
    let s = try TestSocket(port: port)
    defer { s.close() }
    // b cannot send to a: requests arrive at the echo server, its replies are held.
    network.partition(["b"], ["a"], oneWay: true)
    XCTAssertTrue(network.link("a", "b")?.current.isDownBlocked == true)
    XCTAssertTrue(network.link("a", "b")?.current.isUpBlocked == false)
    s.send("ping")
    XCTAssertEqual(s.receive(within: 1), "")
    network.heal(["b"])
    XCTAssertEqual(s.receive(within: 1), "ping")
  }

  func testDelayHoldsEachChunk() throws {
    let s = try TestSocket(port: port)
    defer { s.close() }
    network.degrade(["a"], ["b"], delayMilliseconds: 400)
    let start = Date()
    s.send("slow")
    var got = ""
    while got.isEmpty && Date().timeIntervalSince(start) < 3 { got = s.receive(within: 0.1) }
    XCTAssertEqual(got, "slow")
    // Delayed on the way there and back.
    XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.75)
  }

  func testRefusesConnectionsWhileTheTargetIsDownAndAcceptsWhenItIsBack() throws {
    let targetPort = echo.port
    echo.stop()
    network.targetDown("b")
    usleep(100_000)
    XCTAssertThrowsError(try TestSocket(port: port), "a dead target's proxy accepted a connection")
    echo = try EchoServer(port: targetPort)
    var socket: TestSocket?
    let deadline = Date().addingTimeInterval(3)
    while socket == nil && Date() < deadline {
      socket = try? TestSocket(port: port)
      if socket == nil { usleep(50_000) }
    }
    let s = try XCTUnwrap(socket, "the proxy did not listen again")
    defer { s.close() }
    s.send("back")
    XCTAssertEqual(s.receive(within: 1), "back")
  }

  func testLossCostsRetransmissionTimeouts() throws {
    let s = try TestSocket(port: port)
    defer { s.close() }
    network.degrade(["a"], ["b"], lossProbability: 1)
    let start = Date()
    s.send("lost")
    var got = ""
    while got.isEmpty && Date().timeIntervalSince(start) < 3 { got = s.receive(within: 0.1) }
    XCTAssertEqual(got, "lost", "loss must delay, never drop or reorder bytes")
    XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.35)
  }
}
