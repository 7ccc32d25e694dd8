import CairnCore
import CairnWire
import NIOCore

/// Connections by address, reconnecting on demand. A few connections per address spread load
/// across event loops.
public actor ConnectionPool {
  private var connections: [ServerAddress: [WireConnection]] = [:]
  private var nextIndex: [ServerAddress: Int] = [:]
  private let perAddress: Int
  private let connectTimeout: Duration

  public init(connectionsPerAddress: Int = 2, connectTimeout: Duration = .seconds(3)) {
    perAddress = max(1, connectionsPerAddress)
    self.connectTimeout = connectTimeout
  }

  /// A live connection to `address`.
  public func connection(to address: ServerAddress) async throws(CairnError) -> WireConnection {
    var list = (connections[address] ?? []).filter { !$0.isClosed }
    if list.count < perAddress {
      let fresh = try await WireConnection.connect(to: address, timeout: connectTimeout)
      list = (connections[address] ?? []).filter { !$0.isClosed }
      list.append(fresh)
      connections[address] = list
      return fresh
    }
    let i = (nextIndex[address] ?? 0) % list.count
    nextIndex[address] = i + 1
    connections[address] = list
    return list[i]
  }

  /// Drops every connection to `address` (after it misbehaved).
  public func reset(_ address: ServerAddress) {
    for c in connections[address] ?? [] { c.close() }
    connections[address] = nil
  }

  public func closeAll() {
    for (_, list) in connections { for c in list { c.close() } }
    connections.removeAll()
  }
}
