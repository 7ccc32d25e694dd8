import CairnCore
import CairnMetadata
import CairnTransport

/// Where metadata commands go to be applied: directly to the local state machine (single server),
/// or through a replicated log (issue "Raft") that applies them on every replica.
public protocol CommandProposer: Sendable {
  func propose(_ command: MetadataCommand) async throws(CairnError) -> MetadataResult
  /// Whether this server may do leader-only work now (propose, check blocks, schedule repair).
  /// A single server is always the leader; a Raft member only while it leads its term.
  var isLeader: Bool { get }
  /// The client address of the current leader when known (nil when unknown or this server leads).
  var leaderAddress: String? { get }
}

/// The single-server proposer: applies commands in order, each durable (synced) before it returns.
public final class LocalProposer: CommandProposer {
  let machine: MetadataStateMachine

  public init(machine: MetadataStateMachine) { self.machine = machine }

  public var isLeader: Bool { true }
  public var leaderAddress: String? { nil }

  public func propose(_ command: MetadataCommand) async throws(CairnError) -> MetadataResult {
    let machine = self.machine
    return try await Blocking.run { () throws(CairnError) -> MetadataResult in try machine.applyNext(command) }
  }
}
