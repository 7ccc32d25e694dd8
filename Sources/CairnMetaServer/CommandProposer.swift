import CairnCore
import CairnMetadata
import CairnTransport

/// Where metadata commands go to be applied: directly to the local state machine (single server),
/// or through a replicated log (issue "Raft") that applies them on every replica.
public protocol CommandProposer: Sendable {
  func propose(_ command: MetadataCommand) async throws(CairnError) -> MetadataResult
}

/// The single-server proposer: applies commands in order, each durable (synced) before it returns.
public final class LocalProposer: CommandProposer {
  let machine: MetadataStateMachine

  public init(machine: MetadataStateMachine) { self.machine = machine }

  public func propose(_ command: MetadataCommand) async throws(CairnError) -> MetadataResult {
    let machine = self.machine
    return try await Blocking.run { () throws(CairnError) -> MetadataResult in try machine.applyNext(command) }
  }
}
