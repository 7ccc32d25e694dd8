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
  /// Waits until the local state reflects every write acknowledged before the call (a
  /// linearizable read point); throws `.notLeader` (with the leader's address in `details`) on a
  /// replica that cannot tell.
  func readBarrier() async throws(CairnError)
  /// Proposes `command` and calls `completion` with its result, without a task: returns false
  /// (and does nothing) when this proposer cannot, and the caller uses `propose`.
  func proposeInline(
    _ command: MetadataCommand, completion: @escaping @Sendable (Result<MetadataResult, CairnError>) -> Void
  ) -> Bool
}

extension CommandProposer {
  public func proposeInline(
    _ command: MetadataCommand, completion: @escaping @Sendable (Result<MetadataResult, CairnError>) -> Void
  ) -> Bool { false }

  /// Throws `.notLeader`, with the leader's client address as the first detail when known,
  /// unless this server leads.
  public func requireLeader() throws(CairnError) {
    guard !isLeader else { return }
    if let leader = leaderAddress {
      throw CairnError(.notLeader, "this metadata server is not the leader; the leader is \(leader)", details: [leader])
    }
    throw CairnError(.notLeader, "this metadata server is not the leader and knows of none (election in progress)")
  }
}

/// The single-server proposer: applies commands in order, each durable (synced) before it returns.
public final class LocalProposer: CommandProposer {
  let machine: MetadataStateMachine

  public init(machine: MetadataStateMachine) { self.machine = machine }

  public var isLeader: Bool { true }
  public var leaderAddress: String? { nil }
  public func readBarrier() async throws(CairnError) {}

  public func propose(_ command: MetadataCommand) async throws(CairnError) -> MetadataResult {
    let machine = self.machine
    return try await Blocking.run { () throws(CairnError) -> MetadataResult in try machine.applyNext(command) }
  }
}
