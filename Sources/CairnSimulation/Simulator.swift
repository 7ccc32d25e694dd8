import CairnRaft

/// A deterministic simulation of a Raft group: seeded scheduling over a simulated network
/// (loss, duplication, reordering, delay, partitions, one-way links) and simulated disks
/// (crashes lose unsynced writes), driven by client proposals, ReadIndex reads, membership
/// changes, leadership transfers and compactions. After every event the safety checker runs.
///
/// The same seed always produces the same trace and `SimulationResult.traceHash`.
public final class Simulator {
  enum Event {
    case tick(Int)
    case deliver(Message)
    case sync(Int)
    case restart(Int)
    case action
  }

  /// The seed this run replays.
  public let seed: UInt64
  /// The run's options (by default derived from the seed).
  public let options: SimulationOptions
  let traceSink: ((String) -> Void)?

  var random: SplitMix64
  var queue = EventQueue<Event>()
  var nodes: [SimulatedNode] = []
  var blockedLinks: [[Bool]]
  var now = 0
  var isSettling = false
  var nextCommandID: UInt64 = 1
  var nextReadID: UInt64 = 1
  var trace = TraceHasher()
  var statistics = SimulationStatistics()
  var failure: SimulationFailure?
  let checker = SafetyChecker()

  /// Prepares a run. `traceSink`, when given, receives one line per event (verbose replay).
  public init(
    seed: UInt64, options: SimulationOptions? = nil, traceSink: ((String) -> Void)? = nil
  ) {
    self.seed = seed
    self.options = options ?? .random(seed: seed)
    self.traceSink = traceSink
    self.random = SplitMix64(seed: seed)
    let total = self.options.voterCount + 1
    self.blockedLinks = Array(repeating: Array(repeating: false, count: total), count: total)
    let voters = (1...self.options.voterCount).map { NodeID(UInt64($0)) }
    for index in 0..<total {
      let id = NodeID(UInt64(index + 1))
      let bootstrap: PersistentState =
        index < self.options.voterCount ? .bootstrap(voters: voters) : .joining
      let node = SimulatedNode(id: id, bootstrap: bootstrap)
      node.raft = RaftNode(options: raftOptions(for: id, restarts: 0), state: bootstrap)
      nodes.append(node)
    }
  }

  /// Runs to completion (or to the first failure) and returns the result.
  public func run() -> SimulationResult {
    for index in nodes.indices {
      queue.schedule(.tick(index), at: random.int(in: 1...options.tickInterval))
    }
    queue.schedule(.action, at: random.int(in: options.actionInterval))
    let deadline = options.faultyDuration + options.settleDuration
    while failure == nil, let (time, event) = queue.popFirst() {
      now = time
      if !isSettling && now >= options.faultyDuration { beginSettling() }
      if now > deadline {
        fail("liveness: not converged after settling: \(convergenceReport())")
        break
      }
      statistics.events += 1
      handle(event)
      if isSettling, case .action = event, isConverged() { break }
    }
    return SimulationResult(
      seed: seed, traceHash: trace.value, statistics: statistics, failure: failure)
  }

  func raftOptions(for id: NodeID, restarts: UInt64) -> RaftOptions {
    RaftOptions(
      id: id, electionTicks: options.electionTicks, heartbeatTicks: options.heartbeatTicks,
      randomSeed: SimulatedStateMachine.mix(seed, id.rawValue &+ restarts << 16),
      isPreVoteEnabled: options.isPreVoteEnabled,
      isCheckQuorumEnabled: options.isCheckQuorumEnabled,
      maxEntriesPerAppend: options.maxEntriesPerAppend, maxAppendBytes: 120,
      maxInflightAppends: options.maxInflightAppends, maxPendingReads: 64,
      maxUncommittedEntries: 256)
  }

  // MARK: - Events

  private func handle(_ event: Event) {
    switch event {
    case .tick(let index):
      record(1, index, 0, "tick n\(index + 1)")
      step(index, .tick)
      let jitter = random.int(in: 0...options.tickJitter)
      queue.schedule(.tick(index), at: now + options.tickInterval + jitter)
    case .deliver(let message):
      let from = Int(message.from.rawValue) - 1
      let to = Int(message.to.rawValue) - 1
      guard nodes[to].isUp, !blockedLinks[from][to] else { return }
      statistics.messagesDelivered += 1
      record(2, to, message.term, traceSink == nil ? "" : "deliver \(message)")
      step(to, .message(message))
    case .sync(let index):
      sync(index)
    case .restart(let index):
      restart(index)
    case .action:
      performAction()
      queue.schedule(.action, at: now + random.int(in: options.actionInterval))
    }
  }

  /// Feeds one input to a live node and routes its effects through the durability pipeline.
  func step(_ index: Int, _ input: RaftInput) {
    let node = nodes[index]
    guard let effects = node.raft?.step(input), let raft = node.raft else { return }
    checker.afterStep(of: raft, effects: effects, simulator: self)
    if raft.role == .leader && (node.lastRole != .leader || node.lastTerm != raft.term) {
      statistics.leadersElected += 1
      record(3, index, raft.term, "n\(index + 1) becomes leader of term \(raft.term)")
    }
    node.lastRole = raft.role
    node.lastTerm = raft.term
    if effects.isEmpty { return }
    if effects.needsPersistence || !node.unsyncedBatches.isEmpty {
      node.unsyncedBatches.append(effects)
      if !node.isSyncScheduled {
        node.isSyncScheduled = true
        queue.schedule(.sync(index), at: now + random.int(in: 1...options.maximumSyncDelay))
      }
    } else {
      release(effects, at: index)
    }
  }

  /// The fsync completes: every buffered batch becomes durable, then its outputs are released.
  private func sync(_ index: Int) {
    let node = nodes[index]
    node.isSyncScheduled = false
    guard node.isUp else { return }
    let batches = node.unsyncedBatches
    node.unsyncedBatches = []
    record(4, index, UInt64(batches.count), "sync n\(index + 1): \(batches.count) batches")
    for effects in batches {
      if let problem = node.disk.write(effects) {
        fail("effects contract broken on n\(index + 1): \(problem)")
        return
      }
      release(effects, at: index)
      if failure != nil { return }
    }
  }

  /// Carries out steps 2–5 of the effects contract.
  private func release(_ effects: RaftEffects, at index: Int) {
    let node = nodes[index]
    for message in effects.messages { send(message) }
    if effects.installsSnapshot, let snapshot = effects.snapshotToPersist {
      guard let restored = SimulatedStateMachine(snapshotData: snapshot.data) else {
        fail("snapshot data unreadable on n\(index + 1)")
        return
      }
      node.stateMachine = restored
      statistics.snapshotsInstalled += 1
      record(5, index, snapshot.metadata.index, "n\(index + 1) installs snapshot \(snapshot.metadata)")
      checker.checkRestoredState(restored, node: index, simulator: self)
    }
    for entry in effects.committedEntries {
      checker.apply(entry, node: index, simulator: self)
      if failure != nil { return }
    }
    for read in effects.readsReady {
      checker.serveRead(read, node: index, simulator: self)
    }
    for read in effects.readsFailed { checker.readStarts[read.id] = nil }
    for outcome in effects.proposals {
      if case .appended(let id, let logIndex, let term) = outcome {
        checker.outstandingProposals[id] = (index, logIndex, term)
      }
    }
  }

  private func send(_ message: Message) {
    let from = Int(message.from.rawValue) - 1
    let to = Int(message.to.rawValue) - 1
    guard to >= 0, to < nodes.count, !blockedLinks[from][to] else { return }
    if random.chance(perMille: isSettling ? 0 : options.lossPerMille) { return }
    let copies = random.chance(perMille: isSettling ? 0 : options.duplicationPerMille) ? 2 : 1
    for _ in 0..<copies {
      // While settling, delays shrink well below the election timeout, which Raft needs for
      // liveness (broadcast time much smaller than the election timeout).
      let maximum = isSettling ? options.tickInterval : options.maximumDelay
      let delay = random.int(in: options.minimumDelay...max(options.minimumDelay, maximum))
      queue.schedule(.deliver(message), at: now + delay)
    }
  }

  func crash(_ index: Int) {
    let node = nodes[index]
    guard node.isUp else { return }
    node.raft = nil
    node.unsyncedBatches = []
    node.stateMachine = SimulatedStateMachine()
    node.lastRole = .follower
    statistics.crashes += 1
    record(6, index, 0, "crash n\(index + 1)")
    queue.schedule(.restart(index), at: now + random.int(in: 20...200))
  }

  func restart(_ index: Int) {
    let node = nodes[index]
    guard !node.isUp else { return }
    node.restarts += 1
    let state = node.disk.persistentState
    node.raft = RaftNode(options: raftOptions(for: node.id, restarts: node.restarts), state: state)
    guard let restored = SimulatedStateMachine(snapshotData: state.snapshot.data) else {
      fail("persisted snapshot unreadable on n\(index + 1)")
      return
    }
    node.stateMachine = restored
    record(7, index, state.hardState.term, "restart n\(index + 1) from \(state.hardState)")
    checker.checkRestoredState(restored, node: index, simulator: self)
  }

  /// Records one event into the trace hash, and the verbose trace when a sink is set.
  func record(_ code: UInt64, _ node: Int, _ value: UInt64, _ text: @autoclosure () -> String) {
    trace.combine(UInt64(now) << 8 | code)
    trace.combine(UInt64(node) << 32 | value)
    if let traceSink { traceSink("[\(now)] \(text())") }
  }

  func fail(_ message: String) {
    guard failure == nil else { return }
    failure = SimulationFailure(seed: seed, time: now, message: message)
    record(99, 0, 0, "FAILURE: \(message)")
  }
}
