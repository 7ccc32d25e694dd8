/// The set of voting members of the group, kept sorted so that iteration is deterministic.
public struct Membership: Codable, Sendable, Equatable {
  /// The voters, sorted ascending, without duplicates.
  public private(set) var voters: [NodeID]

  /// Creates a membership from any collection of voters (sorted and de-duplicated here).
  public init(voters: some Sequence<NodeID>) {
    self.voters = Array(Set(voters)).sorted()
    precondition(!self.voters.contains(.none), "NodeID.none cannot be a voter")
  }

  /// An empty membership: the state of a node that joins and waits to learn the configuration.
  public static let empty = Membership(voters: [])

  /// Whether `node` is a voter.
  public func contains(_ node: NodeID) -> Bool { voters.contains(node) }

  /// The number of votes that make a majority.
  public var quorum: Int { voters.count / 2 + 1 }

  /// The membership after applying `change`.
  public func applying(_ change: MembershipChange) -> Membership {
    switch change {
    case .addVoter(let node): return Membership(voters: voters + [node])
    case .removeVoter(let node): return Membership(voters: voters.filter { $0 != node })
    }
  }
}

/// A change of one voter, the only kind Raft's single-server change rule allows.
public enum MembershipChange: Codable, Sendable, Equatable {
  /// Makes `node` a voter.
  case addVoter(NodeID)
  /// Removes `node` from the voters.
  case removeVoter(NodeID)
}
