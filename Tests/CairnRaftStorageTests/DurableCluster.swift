import CairnCore
import CairnKV
import CairnRaft
import CairnRaftStorage
import XCTest

/// A small deterministic harness: real `RaftNode`s whose every batch is persisted through a
/// `RaftLogStore` before its messages enter a FIFO network. `crashAll()` drops the nodes, the
/// network and every store reference; `start()` rebuilds each node from `load()` alone.
final class DurableCluster {
  struct HarnessError: Error, CustomStringConvertible {
    let description: String
  }

  let ids: [NodeID]
  private let factories: [NodeID: StoreFactory]
  private(set) var nodes: [NodeID: RaftNode] = [:]
  private var logs: [NodeID: RaftLogStore] = [:]
  private var network: [Message] = []
  /// Commands each node applied since it (re)started, in order, with their indexes.
  private(set) var applied: [NodeID: [(index: LogIndex, command: [UInt8])]] = [:]
  /// Proposals the leader accepted: (index, term).
  private(set) var accepted: [(index: LogIndex, term: Term)] = []

  init(ids: [NodeID], factory: (NodeID) -> StoreFactory) {
    self.ids = ids
    var factories: [NodeID: StoreFactory] = [:]
    for id in ids { factories[id] = factory(id) }
    self.factories = factories
  }

  /// Opens every store and builds each node from what it loads (bootstrapping empty stores).
  func start() throws {
    for id in ids {
      guard let factory = factories[id] else { throw HarnessError(description: "no store for \(id)") }
      let log = try RaftLogStore(store: factory.open())
      let state: PersistentState
      if let loaded = try log.load() {
        state = loaded
      } else {
        state = .bootstrap(voters: ids)
        try log.overwrite(with: state)
      }
      logs[id] = log
      let options = RaftOptions(id: id, randomSeed: id.rawValue * 7919, isCheckQuorumEnabled: false)
      nodes[id] = RaftNode(options: options, state: state)
      applied[id] = []
    }
  }

  /// A crash of every member: unsynced nothing (every persist is synced), in-memory all gone.
  func crashAll() {
    nodes = [:]
    logs = [:]
    network = []
    applied = [:]
  }

  func node(_ id: NodeID) throws -> RaftNode {
    guard let node = nodes[id] else { throw HarnessError(description: "\(id) is not running") }
    return node
  }

  func log(_ id: NodeID) throws -> RaftLogStore {
    guard let log = logs[id] else { throw HarnessError(description: "\(id) is not running") }
    return log
  }

  /// Steps one node and carries out the effects contract: persist (synced), then send, apply.
  @discardableResult
  func step(_ id: NodeID, _ input: RaftInput) throws -> RaftEffects {
    var node = try node(id)
    let effects = node.step(input)
    nodes[id] = node
    try log(id).persist(effects)
    network.append(contentsOf: effects.messages)
    for entry in effects.committedEntries {
      if case .command(let bytes) = entry.payload { applied[id, default: []].append((entry.index, bytes)) }
    }
    for outcome in effects.proposals {
      if case .appended(_, let index, let term) = outcome { accepted.append((index, term)) }
    }
    return effects
  }

  /// Delivers messages (FIFO) until the network is quiet.
  func deliverAll(maxMessages: Int = 10_000) throws {
    var delivered = 0
    while !network.isEmpty {
      let message = network.removeFirst()
      delivered += 1
      guard delivered <= maxMessages else { throw HarnessError(description: "the network never went quiet") }
      guard nodes[message.to] != nil else { continue }
      try step(message.to, .message(message))
    }
  }

  /// Ticks every node `count` times, delivering after each round.
  func tickAll(_ count: Int) throws {
    for _ in 0..<count {
      for id in ids where nodes[id] != nil { try step(id, .tick) }
      try deliverAll()
    }
  }

  /// The current leader, if exactly one node believes it leads.
  func leader() -> NodeID? {
    let leaders = ids.filter { nodes[$0]?.isLeader == true }
    return leaders.count == 1 ? leaders.first : nil
  }

  /// Commands applied by `id`, as strings.
  func appliedCommands(_ id: NodeID) -> [String] {
    (applied[id] ?? []).map { String(decoding: $0.command, as: UTF8.self) }
  }
}
