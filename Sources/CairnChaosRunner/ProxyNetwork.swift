import CairnChaos
import CairnCore

/// Every proxied link of a chaos cluster, by (from, to) node name, and the partitions, delays
/// and losses set on them.
final class ProxyNetwork: @unchecked Sendable {
  private(set) var links: [String: LinkProxy] = [:]
  private let seed: UInt64

  init(seed: UInt64) { self.seed = seed }

  static func key(_ from: String, _ to: String) -> String { "\(from)>\(to)" }

  /// Adds and starts the proxy for `from` connecting to `to` (listening on `listenPort`).
  func add(from: String, to: String, listenPort: Int, targetPort: Int) async throws(CairnError) {
    let link = LinkProxy(
      from: from, to: to, listenPort: listenPort, targetPort: targetPort, seed: seed &+ UInt64(listenPort))
    try link.start()
    links[Self.key(from, to)] = link
  }

  func link(_ from: String, _ to: String) -> LinkProxy? { links[Self.key(from, to)] }

  /// Blocks traffic from every node of `a` to every node of `b` (and back, unless `oneWay`).
  func partition(_ a: [String], _ b: [String], oneWay: Bool) {
    for x in a {
      for y in b where x != y {
        link(x, y)?.set {
          $0.isUpBlocked = true
          if !oneWay { $0.isDownBlocked = true }
        }
        link(y, x)?.set {
          $0.isDownBlocked = true
          if !oneWay { $0.isUpBlocked = true }
        }
      }
    }
  }

  /// Sets delay or loss on every link between `a` and `b`, both ways.
  func degrade(_ a: [String], _ b: [String], delayMilliseconds: Int? = nil, lossProbability: Double? = nil) {
    for x in a {
      for y in b where x != y {
        for l in [link(x, y), link(y, x)].compactMap({ $0 }) {
          l.set {
            if let delayMilliseconds { $0.delayMilliseconds = delayMilliseconds }
            if let lossProbability { $0.lossProbability = lossProbability }
          }
        }
      }
    }
  }

  /// Every link touching one of `nodes` back to normal; held traffic is delivered.
  func heal(_ nodes: [String]) {
    for l in links.values where nodes.contains(l.from) || nodes.contains(l.to) { l.set { $0 = .normal } }
  }

  /// The node was killed: links to it refuse connections until it listens again, and open
  /// connections to it are reset (its sockets died with it).
  func targetDown(_ node: String) {
    for l in links.values where l.to == node { l.targetWentDown() }
  }

  func shutdown() async {
    for l in links.values { l.stop() }
  }
}
