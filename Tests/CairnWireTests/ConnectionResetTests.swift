import CairnCore
import CairnTransport
import Foundation
import NIOCore
import XCTest

/// A server that dies under a request (the kernel answers with a reset) is unreachable, not a
/// server that sent bad data: callers then try another server or enter degraded mode.
final class ConnectionResetTests: XCTestCase {
  func testAResetConnectionIsReportedAsUnavailable() async throws {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(listener) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
        bind(listener, pointer, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, pointer, &length) == 0
      }
    }
    XCTAssertTrue(bound)
    let port = Int(UInt16(bigEndian: addr.sin_port))
    // Accept, wait for the request, then close with SO_LINGER 0: the client gets a reset.
    let server = Thread {
      let client = accept(listener, nil, nil)
      guard client >= 0 else { return }
      var buffer = [UInt8](repeating: 0, count: 64)
      _ = recv(client, &buffer, buffer.count, 0)
      var hard = linger(l_onoff: 1, l_linger: 0)
      setsockopt(client, SOL_SOCKET, SO_LINGER, &hard, socklen_t(MemoryLayout<linger>.size))
      close(client)
    }
    server.start()
    let connection = try await WireConnection.connect(to: ServerAddress(host: "127.0.0.1", port: port))
    defer { connection.close() }
    do {
      _ = try await connection.call(.meta, payload: ByteBuffer(bytes: [1, 2, 3]), timeout: .seconds(5))
      XCTFail("a reset connection cannot answer")
    } catch {
      XCTAssertEqual(error.code, .unavailable, error.message)
    }
  }
}
