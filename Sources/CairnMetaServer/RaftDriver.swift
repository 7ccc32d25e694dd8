import CairnCore
import CairnKV
import CairnMetadata
import CairnRaft
import CairnRaftStorage
import CairnTransport
import Foundation
import Logging

/// Runs one member of the metadata Raft group: owns the `RaftNode`, its durable log and the
/// metadata state machine, and drives them from a single serialized loop:
///
///   take every queued input (proposals, reads, messages, ticks) → step the node for each,
///   merging the effects → persist the merged batch with ONE synced write (group commit) →
///   hand the messages to the peer senders → apply the committed entries → answer waiting
///   proposals (by index and term) and reads.
///
/// The loop runs on a dedicated thread (`ThreadExecutor`): it blocks there for its synced writes
/// and applies, with no hop to a thread pool and back. Nothing else touches the node. Other tasks see a published copy of its status (`status`).
/// A failure to persist or apply is fatal (fail-stop): the core already counts the batch as
/// written, so carrying on could acknowledge what is not on disk.
public final class RaftDriver: @unchecked Sendable {
  /// Where committed results and read confirmations go.
  /// Who waits for a proposal's result: a suspended task, or a callback (the inline commit path).
  struct ProposalWaiter: Sendable {
    let complete: @Sendable (Result<MetadataResult, CairnError>) -> Void
    init(_ complete: @escaping @Sendable (Result<MetadataResult, CairnError>) -> Void) { self.complete = complete }
    func resume(returning result: Result<MetadataResult, CairnError>) { complete(result) }
  }
  typealias Waiter = CheckedContinuation<Result<Void, CairnError>, Never>

  enum Work {
    case input(RaftInput)
    case propose(ReplicatedCommand, ProposalWaiter)
    case read(Waiter)
    case membership(MembershipChange, Waiter)
    /// A snapshot from the leader whose files are verified in `staged` (a RocksDB checkpoint).
    case installSnapshot(Message, staged: String, Waiter)
  }

  /// Where this member keeps its checkpoints and how often it takes one.
  struct SnapshotSettings: Sendable {
    /// Checkpoints go to `directory/<index>`; only the latest is kept.
    var directory: String
    /// Take a snapshot (and compact the log) after this many applied entries; 0 = never.
    var everyEntries: UInt64
  }

  public let id: NodeID
  let log: RaftLogStore
  let machine: MetadataStateMachine
  let logger: Logger
  let tickInterval: Duration
  let snapshots: SnapshotSettings?
  /// Called with every batch of outgoing messages, after they are durable.
  let send: @Sendable ([Message]) -> Void

  // Loop-owned state (only the loop task touches these).
  var node: RaftNode
  /// The last hard state written (term and vote synced).
  var durableHardState: HardState
  /// The last log index on disk (every entry up to it synced).
  var durableLastIndex: LogIndex
  private var nextId: UInt64 = 1
  private var proposals: [UInt64: ProposalWaiter] = [:]
  var appended: [LogIndex: (term: Term, waiter: ProposalWaiter)] = [:]
  /// ReadIndex requests and the reads waiting on each (reads that arrive together share one).
  private var reads: [UInt64: [Waiter]] = [:]
  /// The ReadIndex request issued in the current loop iteration, which later reads join.
  private var currentRead: UInt64?
  private var changes: [UInt64: Waiter] = [:]
  var changeIndexes: [LogIndex: (term: Term, waiter: Waiter)] = [:]

  // Shared state, under `lock`.
  let lock = NSLock()
  private var inbox: [Work] = []
  private var wakeup: CheckedContinuation<Void, Never>?
  private var stopped = false
  private var published: RaftStatus
  var addressBook: [UInt64: String]
  /// Synced Raft writes and the entries they carried (group commit at work).
  private(set) var writeCounts: (writes: UInt64, entries: UInt64) = (0, 0)
  private var loopTask: Task<Void, Never>?
  private var tickTask: Task<Void, Never>?

  /// Opens the member's state: loads the Raft log from `log` (bootstrapping a new group of
  /// `bootstrapVoters`, or joining an existing one when that is empty, if the store never held a
  /// log) and reconciles it with the state machine's applied index.
  init(
    options: RaftOptions, log: RaftLogStore, machine: MetadataStateMachine, bootstrapVoters: [NodeID],
    addresses: [UInt64: String], tickInterval: Duration, logger: Logger, snapshots: SnapshotSettings? = nil,
    send: @escaping @Sendable ([Message]) -> Void
  ) throws(CairnError) {
    var state: PersistentState
    if let loaded = try log.load() {
      state = loaded
    } else {
      guard machine.appliedIndex == 0 else {
        throw CairnError(
          .invalidArgument,
          "the data directory holds a single-server metadata store (applied index \(machine.appliedIndex)) "
            + "and no Raft log; a Raft member must start from an empty data directory")
      }
      state = bootstrapVoters.isEmpty ? .joining : .bootstrap(voters: bootstrapVoters)
      try log.overwrite(with: state)
    }
    let applied = max(machine.appliedIndex, state.snapshot.metadata.index)
    guard applied <= max(state.hardState.commitIndex, state.snapshot.metadata.index) else {
      throw CairnError(
        .ioError,
        "the metadata store has applied index \(applied), past the Raft log's commit index \(state.hardState.commitIndex)"
      )
    }
    state.appliedIndex = applied
    self.id = options.id
    self.log = log
    self.machine = machine
    self.logger = logger
    self.tickInterval = tickInterval
    self.snapshots = snapshots
    self.send = send
    self.node = RaftNode(options: options, state: state)
    self.durableHardState = state.hardState
    self.durableLastIndex = node.lastIndex
    self.published = node.status
    var book = addresses
    for (key, value) in try Self.storedAddresses(in: machine.store) { book[key] = value }
    self.addressBook = book
  }

  /// Starts the loop (on a thread of its own, where it also does its synced writes) and the tick
  /// timer.
  func start() {
    let maxCatchUp = node.options.electionTicks  // read before the loop owns the node
    let executor = ThreadExecutor(name: "raft-\(id.rawValue)")
    let loop = Task(executorPreference: executor) {
      await self.runLoop()
      executor.shutdown()
    }
    let ticks = Task { [tickInterval] in
      // Wall-clock ticks (`TickSchedule`): no drift from wake-up latency, missed ticks caught up.
      var schedule = TickSchedule(start: .now, interval: tickInterval, maxCatchUp: maxCatchUp)
      while !Task.isCancelled {
        try? await Task.sleep(until: schedule.nextDeadline, clock: .continuous)
        let due = schedule.take(at: .now)
        if due > 0 { self.submit(repeatElement(Work.input(.tick), count: due)) }
      }
    }
    lock.withLock {
      loopTask = loop
      tickTask = ticks
    }
  }

  /// Stops the loop; waiting callers get `.unavailable`.
  func stop() async {
    let (loop, ticks, waiter) = lock.withLock {
      () -> (Task<Void, Never>?, Task<Void, Never>?, CheckedContinuation<Void, Never>?) in
      stopped = true
      let w = wakeup
      wakeup = nil
      return (loopTask, tickTask, w)
    }
    ticks?.cancel()
    waiter?.resume()
    await loop?.value
  }

  // MARK: Public view

  /// The node's status as of the end of the last loop iteration.
  public var status: RaftStatus { lock.withLock { published } }

  /// Known addresses of members (from the configuration and the replicated log).
  public var addresses: [UInt64: String] { lock.withLock { addressBook } }

  public var isLeader: Bool { status.role == .leader }

  /// Synced Raft log writes so far and the entries they carried.
  var writeStatistics: (writes: UInt64, entries: UInt64) { lock.withLock { writeCounts } }

  /// The leader's address, when known and not this member.
  public var leaderAddress: String? {
    let (leader, book) = lock.withLock { (published.leaderID, addressBook) }
    guard leader != .none, leader != id else { return nil }
    return book[leader.rawValue]
  }

  func notLeaderError(_ what: String) -> CairnError {
    if let leader = leaderAddress {
      return CairnError(
        .notLeader, "metadata server \(id.rawValue) is not the leader; \(what) goes to \(leader)", details: [leader])
    }
    return CairnError(
      .notLeader, "metadata server \(id.rawValue) is not the leader and knows of none (election in progress)")
  }

  // MARK: Requests

  /// Proposes `command` and waits until it is committed and applied on this member.
  func propose(_ command: ReplicatedCommand) async -> Result<MetadataResult, CairnError> {
    await withCheckedContinuation { (c: CheckedContinuation<Result<MetadataResult, CairnError>, Never>) in
      submit(.propose(command, ProposalWaiter { c.resume(returning: $0) }))
    }
  }

  /// Waits until this member's state reflects every commit acknowledged before the call
  /// (ReadIndex: leadership confirmed by a quorum, state applied through the commit index).
  func readBarrier() async -> Result<Void, CairnError> {
    await withCheckedContinuation { (c: Waiter) in submit(.read(c)) }
  }

  /// Adds or removes one voter; returns once the change is committed.
  func changeMembership(_ change: MembershipChange) async -> Result<Void, CairnError> {
    await withCheckedContinuation { (c: Waiter) in submit(.membership(change, c)) }
  }

  /// Feeds a message from a peer. A snapshot must come with its files (`installSnapshot`), so
  /// a bare `installSnapshot` message is dropped.
  func receive(_ message: Message) { receive([message]) }

  /// Feeds messages from a peer, with one wake-up of the loop for all of them.
  func receive(_ messages: [Message]) {
    var work: [Work] = []
    work.reserveCapacity(messages.count)
    for message in messages {
      if case .installSnapshot = message.kind {
        logger.warning("dropped an installSnapshot message that came without its files")
        continue
      }
      work.append(.input(.message(message)))
    }
    submit(work)
  }

  /// Asks the node to hand leadership to `target`.
  func transferLeadership(to target: NodeID) { submit(.input(.transferLeadership(to: target))) }

  func submit(_ work: Work) { submit(CollectionOfOne(work)) }

  /// Queues work for the loop and wakes it (once, however many items).
  func submit(_ work: some Collection<Work>) {
    guard !work.isEmpty else { return }
    let (accepted, waiter) = lock.withLock { () -> (Bool, CheckedContinuation<Void, Never>?) in
      guard !stopped else { return (false, nil) }
      inbox.append(contentsOf: work)
      let w = wakeup
      wakeup = nil
      return (true, w)
    }
    if !accepted {
      for item in work { Self.fail(item, CairnError(.unavailable, "the metadata server is shutting down")) }
    }
    waiter?.resume()
  }

  private static func fail(_ work: Work, _ error: CairnError) {
    switch work {
    case .input: break
    case .propose(_, let c): c.resume(returning: .failure(error))
    case .read(let c), .membership(_, let c), .installSnapshot(_, _, let c): c.resume(returning: .failure(error))
    }
  }

  // MARK: The loop

  private func take() async -> [Work]? {
    while true {
      let (work, isStopped) = lock.withLock { () -> ([Work], Bool) in
        let w = inbox
        inbox = []
        return (w, stopped)
      }
      if isStopped {
        for w in work { Self.fail(w, CairnError(.unavailable, "the metadata server is shutting down")) }
        return nil
      }
      if !work.isEmpty { return work }
      await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        let ready = lock.withLock { () -> Bool in
          if !inbox.isEmpty || stopped { return true }
          wakeup = c
          return false
        }
        if ready { c.resume() }
      }
    }
  }

  private func runLoop() async {
    while let work = await take() {
      var batch = RaftBatch()
      currentRead = nil
      for item in work {
        var staged: String?
        var done: Waiter?
        let effects: RaftEffects
        if case .installSnapshot(let message, let directory, let waiter) = item {
          staged = directory
          done = waiter
          effects = node.step(.message(message))
        } else {
          effects = step(item)
        }
        if effects.snapshotToPersist != nil {
          await carryOut(batch)
          batch = RaftBatch()
          await carryOutSnapshot(effects, staged: staged)
        } else {
          batch.merge(effects)
        }
        done?.resume(returning: .success(()))
      }
      await carryOut(batch)
      await snapshotIfDue()
      let status = node.status
      let previous = lock.withLock { () -> RaftStatus in
        let p = published
        published = status
        return p
      }
      if previous.role != status.role || previous.leaderID != status.leaderID
        || previous.membership != status.membership
      {
        logger.info(
          "Raft state changed",
          metadata: [
            "role": "\(status.role.rawValue)", "term": "\(status.term)", "leader": "\(status.leaderID.rawValue)",
            "members": "\(status.membership.voters.map(\.rawValue))", "commit": "\(status.commitIndex)",
          ])
      }
    }
    let error = CairnError(.unavailable, "the metadata server is shutting down")
    for (_, w) in proposals { w.resume(returning: .failure(error)) }
    for (_, w) in appended { w.waiter.resume(returning: .failure(error)) }
    for (_, list) in reads { for w in list { w.resume(returning: .failure(error)) } }
    for (_, w) in changes { w.resume(returning: .failure(error)) }
    for (_, w) in changeIndexes { w.waiter.resume(returning: .failure(error)) }
    proposals = [:]
    appended = [:]
    reads = [:]
    changes = [:]
    changeIndexes = [:]
  }

  private func step(_ work: Work) -> RaftEffects {
    switch work {
    case .input(let input):
      return node.step(input)
    case .installSnapshot(let message, _, _):
      return node.step(.message(message))
    case .propose(let command, let waiter):
      let bytes: [UInt8]
      do throws(CairnError) { bytes = try command.encoded() } catch {
        waiter.resume(returning: .failure(error))
        return RaftEffects()
      }
      let id = nextId
      nextId += 1
      proposals[id] = waiter
      return node.step(.propose(id: id, command: bytes))
    case .read(let waiter):
      // Reads taken from the inbox together all arrived before this ReadIndex request is made,
      // so its confirmation (leadership checked by a quorum afterwards, state applied through the
      // commit index as of now) serves every one of them: one heartbeat round, not one each.
      if let id = currentRead, reads[id] != nil {
        reads[id, default: []].append(waiter)
        return RaftEffects()
      }
      let id = nextId
      nextId += 1
      reads[id] = [waiter]
      currentRead = id
      return node.step(.readIndex(id: id))
    case .membership(let change, let waiter):
      let id = nextId
      nextId += 1
      changes[id] = waiter
      return node.step(.changeMembership(id: id, change))
    }
  }

  /// Steps 1–5 of the effects contract for a merged batch.
  func carryOut(_ batch: RaftBatch) async {
    guard !batch.isEmpty else { return }
    // Raft §10.2.1: a leader may replicate its new entries while it writes them itself. Safe here
    // because the loop is serial: an acknowledgement is stepped only after this batch is durable,
    // so no commit index that counts the leader's copy leaves before that copy is on disk. Only
    // appends, only while the term and vote are already durable (not in the step that won them).
    var messages = batch.messages
    if node.isLeader, batch.needsPersistence, !batch.entries.isEmpty,
      batch.hardState.map({ $0.term == durableHardState.term && $0.votedFor == durableHardState.votedFor }) ?? true
    {
      let appends = messages.filter { if case .appendRequest = $0.kind { return true } else { return false } }
      if !appends.isEmpty {
        send(appends)
        messages.removeAll { if case .appendRequest = $0.kind { return true } else { return false } }
      }
    }
    // Persist, send what waited for it, and apply the committed entries right here: the loop
    // runs on its own thread (`ThreadExecutor`), so blocking on the fsync costs no hop to a
    // thread pool and back (each hop is a thread wake-up, slow on a busy machine).
    let (hardState, entries, committed) = (batch.hardState, batch.entries, batch.committed)
    let persist = batch.needsPersistence
    // Only the commit index moved: no fsync. The persisted commit index is an optimisation (a
    // lower one after a crash is safe), and the WAL keeps write order, so a surviving apply
    // never has a lost commit index before it. Terms, votes and entries are always synced.
    let sync =
      !entries.isEmpty
      || hardState.map { $0.term != durableHardState.term || $0.votedFor != durableHardState.votedFor } ?? false
    // Entries committed by acknowledgements of earlier, durable batches need not wait for this
    // batch's fsync (if it has one: new entries): the write goes to the thread pool (which sends the messages that wait for
    // it), while this thread applies those entries and answers their proposers (commit latency
    // minus one fsync, and the fsync's wait overlaps the applies). The commit index goes to
    // RocksDB before the applies (unsynced; the WAL keeps the order), so a surviving apply never
    // has its commit index lost.
    var applied: Applied = ([], [])
    do throws(CairnError) {
      if sync, batch.appliesBeforeItsWrite(durableLastIndex: durableLastIndex, durable: durableHardState) {
        if let hardState {
          try log.store.write(try log.batch(hardState: hardState, snapshot: nil, entries: []), sync: false)
        }
        let write = BackgroundWrite(
          store: log.store, batch: try log.batch(hardState: hardState, snapshot: nil, entries: entries), sync: sync,
          then: messages, send: send)
        resolve(try Self.applyEntries(committed, to: machine))
        try write.wait()
      } else {
        if persist {
          try log.store.write(try log.batch(hardState: hardState, snapshot: nil, entries: entries), sync: sync)
        }
        if !messages.isEmpty { send(messages) }
        if !committed.isEmpty { applied = try Self.applyEntries(committed, to: machine) }
      }
    } catch {
      logger.critical("cannot persist or apply Raft entries; stopping", metadata: ["error": "\(error)"])
      fatalError("cannot persist or apply Raft entries: \(error)")
    }
    if let last = entries.last { durableLastIndex = last.index }
    if persist, let hardState { durableHardState = hardState }
    if persist && sync {
      lock.withLock { writeCounts = (writeCounts.writes + 1, writeCounts.entries + UInt64(entries.count)) }
    }
    // A proposal whose entry was replaced by another leader's was never committed: say so.
    for entry in batch.entries {
      if let waiting = appended[entry.index], waiting.term != entry.term {
        appended[entry.index] = nil
        waiting.waiter.resume(returning: .failure(lostEntryError(entry.index)))
      }
      if let waiting = changeIndexes[entry.index], waiting.term != entry.term {
        changeIndexes[entry.index] = nil
        waiting.waiter.resume(returning: .failure(lostEntryError(entry.index)))
      }
    }
    for outcome in batch.proposals { record(outcome) }
    resolve(applied)
    for read in batch.readsReady {
      for w in reads.removeValue(forKey: read.id) ?? [] { w.resume(returning: .success(())) }
    }
    for failure in batch.readsFailed {
      let error = rejectionError(failure.reason, "a read")
      for w in reads.removeValue(forKey: failure.id) ?? [] { w.resume(returning: .failure(error)) }
    }
  }

  func lostEntryError(_ index: LogIndex) -> CairnError {
    CairnError(
      .notLeader, "the proposal at log index \(index) was replaced by a new leader's entry and not committed; retry",
      details: leaderAddress.map { [$0] } ?? [])
  }

  private func rejectionError(_ reason: RaftRejection, _ what: String) -> CairnError {
    switch reason {
    case .notLeader, .leadershipLost: return notLeaderError(what)
    case .transferInProgress:
      return CairnError(.unavailable, "leadership is being transferred; retry \(what) shortly")
    case .membershipChangePending:
      return CairnError(.unavailable, "a membership change is still in progress (or the leader is new); retry shortly")
    case .invalidMembershipChange:
      return CairnError(
        .invalidArgument, "the membership change would not change the group or would remove its last member")
    case .overloaded:
      return CairnError(.unavailable, "the metadata leader is overloaded (too many requests waiting); retry")
    }
  }

  private func record(_ outcome: ProposalOutcome) {
    switch outcome {
    case .appended(let id, let index, let term):
      if let waiter = proposals.removeValue(forKey: id) {
        appended[index] = (term, waiter)
      } else if let waiter = changes.removeValue(forKey: id) {
        changeIndexes[index] = (term, waiter)
      }
    case .rejected(let id, let reason):
      if let waiter = proposals.removeValue(forKey: id) {
        waiter.resume(returning: .failure(rejectionError(reason, "a write")))
      } else if let waiter = changes.removeValue(forKey: id) {
        waiter.resume(returning: .failure(rejectionError(reason, "a membership change")))
      }
    }
  }

  /// What applying committed entries produced: each entry's result (nil for no-op and
  /// membership entries) and member addresses learned.
  typealias Applied = (outcomes: [(LogIndex, Term, Result<MetadataResult, CairnError>?)], learned: [(UInt64, String)])

  /// Applies committed entries to the state machine (unsynced: the Raft log holds them, and
  /// entries after the persisted applied index are applied again after a crash), all of them in
  /// one store write (`MetadataStateMachine.applyAll`). Entries at or below the machine's applied
  /// index were applied before a restart and are skipped.
  static func applyEntries(_ entries: [LogEntry], to machine: MetadataStateMachine) throws(CairnError) -> Applied {
    var items: [(index: UInt64, item: MetadataStateMachine.LogItem)] = []
    items.reserveCapacity(entries.count)
    // Per entry: its term, and whether it carries a member address (answered `.done`).
    var terms: [(Term, isAddress: Bool)] = []
    var addresses: [(UInt64, String)] = []
    for entry in entries where entry.index > machine.appliedIndex {
      guard case .command(let bytes) = entry.payload else {
        items.append((entry.index, .other(WriteBatch())))
        terms.append((entry.term, false))
        continue
      }
      switch try ReplicatedCommand(decoding: bytes) {
      case .metadata(let command):
        items.append((entry.index, .command(command)))
        terms.append((entry.term, false))
      case .memberAddress(let member, let address):
        var batch = WriteBatch()
        batch.put(addressKey(member), Array(address.utf8))
        items.append((entry.index, .other(batch)))
        terms.append((entry.term, true))
        addresses.append((member, address))
      }
    }
    guard !items.isEmpty else { return ([], []) }
    // One store write per slice, so a long catch-up never stages an unbounded batch in memory.
    var results: [Result<MetadataResult, CairnError>?] = []
    results.reserveCapacity(items.count)
    for start in stride(from: 0, to: items.count, by: maxEntriesPerApplyWrite) {
      results += try machine.applyAll(
        Array(items[start..<min(start + maxEntriesPerApplyWrite, items.count)]), sync: false)
    }
    var out: [(LogIndex, Term, Result<MetadataResult, CairnError>?)] = []
    out.reserveCapacity(items.count)
    for i in items.indices {
      out.append((items[i].index, terms[i].0, terms[i].isAddress ? .success(.done) : results[i]))
    }
    return (out, addresses)
  }

  /// Most committed entries applied with one store write.
  static let maxEntriesPerApplyWrite = 256

  /// Answers the proposals waiting for applied entries (by index and term).
  private func resolve(_ applied: Applied) {
    if !applied.learned.isEmpty {
      lock.withLock { for (member, address) in applied.learned { addressBook[member] = address } }
    }
    for (index, term, result) in applied.outcomes {
      if let waiting = appended.removeValue(forKey: index) {
        if waiting.term == term, let result {
          waiting.waiter.resume(returning: result)
        } else if waiting.term == term {
          waiting.waiter.resume(returning: .failure(CairnError(.internalError, "entry \(index) carried no command")))
        } else {
          waiting.waiter.resume(returning: .failure(lostEntryError(index)))
        }
      }
      if let waiting = changeIndexes.removeValue(forKey: index) {
        waiting.waiter.resume(returning: waiting.term == term ? .success(()) : .failure(lostEntryError(index)))
      }
    }
  }

  // MARK: Address book

  /// Keys of replicated member addresses: `A` + id, a first byte neither the metadata keys nor
  /// the Raft log (`R`) use.
  static let addressPrefix: UInt8 = 0x41

  static func addressKey(_ id: UInt64) -> Bytes {
    var key: Bytes = [addressPrefix]
    for shift in stride(from: 56, through: 0, by: -8) { key.append(UInt8(truncatingIfNeeded: id >> UInt64(shift))) }
    return key
  }

  static func storedAddresses(in store: any KVStore) throws(CairnError) -> [UInt64: String] {
    var out: [UInt64: String] = [:]
    for (key, value) in try store.scan(prefix: [addressPrefix]) where key.count == 9 {
      let id = key.dropFirst().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      out[id] = String(decoding: value, as: UTF8.self)
    }
    return out
  }
}
