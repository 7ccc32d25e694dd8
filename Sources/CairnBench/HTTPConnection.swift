#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A minimal blocking HTTP/1.1 keep-alive client, enough to POST small JSON bodies to etcd's
/// gateway without a client library's overhead skewing the comparison.
struct HTTPConnection {
  private var fd: Int32 = -1
  private var buffer: [UInt8] = []
  let host: String

  init(host: String, port: Int) {
    self.host = host
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else { return }
    defer { freeaddrinfo(result) }
    let s = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
    guard s >= 0 else { return }
    guard connect(s, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
      Glibc.close(s)
      return
    }
    var one: Int32 = 1
    setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    fd = s
  }

  mutating func close() {
    if fd >= 0 { Glibc.close(fd) }
    fd = -1
  }

  /// Sends one POST and reads the whole response; true on a 2xx status.
  mutating func post(_ path: String, body: String) -> Bool {
    guard fd >= 0 else { return false }
    let request =
      "POST \(path) HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    let bytes = Array(request.utf8)
    var sent = 0
    while sent < bytes.count {
      let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      if n <= 0 { return false }
      sent += n
    }
    // Read the head, then Content-Length bytes of body.
    var headEnd: Int?
    while headEnd == nil {
      if let i = find(Array("\r\n\r\n".utf8)) { headEnd = i + 4 } else if !fill() { return false }
    }
    guard let end = headEnd else { return false }
    let head = String(decoding: buffer[0..<end], as: UTF8.self)
    let ok = head.hasPrefix("HTTP/1.1 2")
    var length = 0
    for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
      length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
    }
    while buffer.count < end + length { if !fill() { return false } }
    buffer.removeFirst(end + length)
    return ok
  }

  private func find(_ needle: [UInt8]) -> Int? {
    guard buffer.count >= needle.count else { return nil }
    for i in 0...(buffer.count - needle.count) where buffer[i..<i + needle.count].elementsEqual(needle) { return i }
    return nil
  }

  private mutating func fill() -> Bool {
    var chunk = [UInt8](repeating: 0, count: 16384)
    let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    guard n > 0 else { return false }
    buffer += chunk[0..<n]
    return true
  }
}
