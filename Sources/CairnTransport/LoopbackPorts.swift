#if canImport(Glibc)
import Glibc
#endif

/// Free TCP ports on loopback, for clusters started on one machine (tests, `cairn chaos`).
public enum LoopbackPorts {
  /// A base port with `count` consecutive free ports (and free ports at the offsets `also`);
  /// a random guess when 200 tries found none (the caller's bind then reports the clash).
  public static func freeBase(count: Int, also offsets: [Int] = []) -> Int {
    let top = 60000 - count - (offsets.max() ?? 0)
    for _ in 0..<200 {
      let base = Int.random(in: 20000..<max(20001, top))
      if (0..<count).allSatisfy({ isFree(base + $0) }) && offsets.allSatisfy({ isFree(base + $0) }) { return base }
    }
    return Int.random(in: 20000..<50000)
  }

  /// Whether `port` can be bound on 127.0.0.1 right now.
  public static func isFree(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    return withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
  }
}
