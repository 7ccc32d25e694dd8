import CairnCore

/// A `host:port` pair, validated.
public struct ServerAddress: Hashable, Sendable, Codable, CustomStringConvertible {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `host:port` (IPv6 hosts in brackets: `[::1]:7000`).
  public init(parsing text: String) throws(CairnError) {
    let trimmed = text.trimmingCharacters(in: " \t")
    let host: Substring
    let portText: Substring
    if trimmed.hasPrefix("[") {
      guard let close = trimmed.firstIndex(of: "]"), trimmed[trimmed.index(after: close)...].hasPrefix(":") else {
        throw .invalid("address '\(text)' must look like [::1]:7000")
      }
      host = trimmed[trimmed.index(after: trimmed.startIndex)..<close]
      portText = trimmed[trimmed.index(close, offsetBy: 2)...]
    } else {
      guard let colon = trimmed.lastIndex(of: ":") else {
        throw .invalid("address '\(text)' must look like HOST:PORT (for example 127.0.0.1:7000)")
      }
      host = trimmed[..<colon]
      portText = trimmed[trimmed.index(after: colon)...]
    }
    guard !host.isEmpty else { throw .invalid("address '\(text)' has no host") }
    guard let port = Int(portText), (0...65535).contains(port) else {
      throw .invalid("address '\(text)' has an invalid port '\(portText)' (0-65535)")
    }
    self.host = String(host)
    self.port = port
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension String {
  func trimmingCharacters(in set: String) -> Substring {
    let chars = Set(set)
    var s = Substring(self)
    while let f = s.first, chars.contains(f) { s.removeFirst() }
    while let l = s.last, chars.contains(l) { s.removeLast() }
    return s
  }
}
