import CairnCore
import CairnTransport
import Foundation

/// The Raft settings of `cairn meta serve`, parsed and checked: this member's id, every
/// member's address, and timing. Pure, so every bad input is unit-tested.
public struct RaftConfiguration: Sendable, Equatable {
  /// This member.
  public var id: UInt64
  /// Every member's `HOST:PORT` (this one's included): the address peers and clients use.
  public var peers: [UInt64: String]
  /// Start empty and wait to be added by the leader (`cairn cluster add-meta`), instead of
  /// bootstrapping a new group of `peers`.
  public var join: Bool
  /// The election timeout; followers campaign after one to two of these without a leader.
  public var electionTimeoutMillis: Int

  /// Ticks per election timeout (the heartbeat is every fifth of it).
  public static let electionTicks = 10
  public static let heartbeatTicks = 2
  /// The default election timeout (these machines are small and noisy).
  public static let defaultElectionTimeoutMillis = 1000

  /// Parses `--peers 1=HOST:PORT,2=HOST:PORT,…` for member `id`.
  public init(id: UInt64?, peers text: String, join: Bool = false, electionTimeoutMillis: Int? = nil) throws(CairnError) {
    guard let id else { throw .invalid("--id is required with --peers (this server's member id)") }
    guard id > 0 else { throw .invalid("--id must be a positive integer (0 is reserved)") }
    var peers: [UInt64: String] = [:]
    var seenAddresses: [String: UInt64] = [:]
    let items = text.split(separator: ",", omittingEmptySubsequences: false).map {
      $0.trimmingCharacters(in: .whitespaces)
    }
    guard !(items.count == 1 && items[0].isEmpty) else { throw .invalid("--peers is empty; give ID=HOST:PORT,…") }
    for item in items {
      let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
      guard parts.count == 2, let peer = UInt64(parts[0]) else {
        throw .invalid("--peers entry '\(item)' must look like ID=HOST:PORT (for example 1=10.0.0.1:7700)")
      }
      guard peer > 0 else { throw .invalid("--peers entry '\(item)': member id 0 is reserved") }
      let address = try ServerAddress(parsing: parts[1]).description
      guard peers[peer] == nil else { throw .invalid("--peers lists member id \(peer) twice") }
      if let other = seenAddresses[address] {
        throw .invalid("--peers gives members \(other) and \(peer) the same address \(address)")
      }
      peers[peer] = address
      seenAddresses[address] = peer
    }
    guard peers[id] != nil else {
      throw .invalid("--id \(id) is not among the --peers (\(peers.keys.sorted().map(String.init).joined(separator: ", ")))")
    }
    let timeout = electionTimeoutMillis ?? Self.defaultElectionTimeoutMillis
    guard (50...60_000).contains(timeout) else { throw .invalid("the election timeout must be 50–60000 ms, not \(timeout)") }
    self.id = id
    self.peers = peers
    self.join = join
    self.electionTimeoutMillis = timeout
  }

  /// The interval between ticks of the Raft node.
  public var tickInterval: Duration { .milliseconds(electionTimeoutMillis / Self.electionTicks) }
}
