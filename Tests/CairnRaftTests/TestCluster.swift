import CairnRaft

/// A tiny synchronous harness for scripted scenarios: nodes persist instantly (each effects
/// batch is written to an in-memory disk before its messages are queued), messages are
/// delivered FIFO on `deliverAll()`, and links can be cut.
struct TestCluster {
  var nodes: [NodeID: RaftNode] = [:]
  var queue: [Message] = []
  var cutLinks: Set<[UInt64]> = []
  var applied: [NodeID: [LogEntry]] = [:]
  var readsReady: [NodeID: [ReadState]] = [:]
  var readsFailed: [NodeID: [ReadFailure]] = [:]
  var proposals: [NodeID: [ProposalOutcome]] = [:]
  var disks: [NodeID: PersistentState] = [:]
  var sentMessages: [Message] = []

  /// A new group of `voters`; every node uses `configure` to adjust its options.
  init(voters: [UInt64], spare: [UInt64] = [], configure: (inout RaftOptions) -> Void = { _ in }) {
    let ids = voters.map { NodeID($0) }
    for raw in voters + spare {
      let id = NodeID(raw)
      var options = RaftOptions(id: id, randomSeed: raw)
      configure(&options)
      let state: PersistentState = voters.contains(raw) ? .bootstrap(voters: ids) : .joining
      nodes[id] = RaftNode(options: options, state: state)
      disks[id] = state
    }
  }

  subscript(_ raw: UInt64) -> RaftNode {
    guard let node = nodes[NodeID(raw)] else { preconditionFailure("no node \(raw)") }
    return node
  }

  /// Steps one node and carries out its effects (persist, queue messages, apply, reads).
  @discardableResult
  mutating func step(_ raw: UInt64, _ input: RaftInput) -> RaftEffects {
    let id = NodeID(raw)
    guard var node = nodes[id] else { preconditionFailure("no node \(raw)") }
    let effects = node.step(input)
    nodes[id] = node
    persist(effects, on: id)
    sentMessages += effects.messages
    queue += effects.messages.filter { !cutLinks.contains([$0.from.rawValue, $0.to.rawValue]) }
    applied[id, default: []] += effects.committedEntries
    readsReady[id, default: []] += effects.readsReady
    readsFailed[id, default: []] += effects.readsFailed
    proposals[id, default: []] += effects.proposals
    return effects
  }

  mutating func tick(_ raw: UInt64, times: Int = 1) {
    for _ in 0..<times { step(raw, .tick) }
  }

  /// Delivers queued messages (and the messages they cause) until none are left.
  mutating func deliverAll(limit: Int = 10_000) {
    var delivered = 0
    while !queue.isEmpty && delivered < limit {
      let message = queue.removeFirst()
      delivered += 1
      if cutLinks.contains([message.from.rawValue, message.to.rawValue]) { continue }
      guard nodes[message.to] != nil else { continue }
      step(message.to.rawValue, .message(message))
    }
    precondition(queue.isEmpty, "messages still flowing after \(limit) deliveries")
  }

  /// Cuts (both directions) every link between `raw` and the other nodes.
  mutating func isolate(_ raw: UInt64) {
    for other in nodes.keys where other.rawValue != raw {
      cutLinks.insert([raw, other.rawValue])
      cutLinks.insert([other.rawValue, raw])
    }
  }

  mutating func heal() { cutLinks = [] }

  /// Makes `raw` campaign and runs the election to completion.
  mutating func elect(_ raw: UInt64) {
    step(raw, .campaign)
    deliverAll()
  }

  /// Ticks `candidates` round-robin, delivering after each round, until one of them leads.
  mutating func runUntilLeader(among candidates: [UInt64], maxRounds: Int = 200) -> UInt64? {
    for _ in 0..<maxRounds {
      for raw in candidates { tick(raw) }
      deliverAll()
      if let leader = candidates.first(where: { self[$0].isLeader }) { return leader }
    }
    return nil
  }

  /// Proposes a one-byte command at `raw` and replicates it.
  mutating func propose(_ raw: UInt64, _ byte: UInt8, id: UInt64 = 0) {
    step(raw, .propose(id: id, command: [byte]))
    deliverAll()
  }

  /// Commands applied by `raw`, in order.
  func appliedCommands(_ raw: UInt64) -> [[UInt8]] {
    (applied[NodeID(raw)] ?? []).compactMap {
      if case .command(let bytes) = $0.payload { return bytes } else { return nil }
    }
  }

  /// Restarts `raw` from what its disk holds (everything persisted; nothing was lost).
  mutating func restart(_ raw: UInt64) {
    let id = NodeID(raw)
    guard let node = nodes[id], let disk = disks[id] else { return }
    nodes[id] = RaftNode(options: node.options, state: disk)
    applied[id] = []
  }

  private mutating func persist(_ effects: RaftEffects, on id: NodeID) {
    guard var disk = disks[id] else { return }
    if let snapshot = effects.snapshotToPersist {
      disk.snapshot = snapshot
      disk.entries = effects.installsSnapshot ? [] : disk.entries.filter {
        $0.index > snapshot.metadata.index
      }
    }
    if let first = effects.entriesToPersist.first?.index {
      disk.entries = disk.entries.filter { $0.index < first } + effects.entriesToPersist
    }
    if let hardState = effects.hardState { disk.hardState = hardState }
    disks[id] = disk
  }
}
