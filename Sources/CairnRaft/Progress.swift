/// What a leader knows about one follower's log, and how it is sending to it (etcd's
/// probe / replicate / snapshot flow control).
struct Progress: Sendable {
  enum State: Sendable { case probe, replicate, snapshot }

  /// The highest index known to match the leader's log.
  var match: LogIndex = 0
  /// The next index to send.
  var next: LogIndex
  var state: State = .probe
  /// In probe state: one append is outstanding; wait for its answer or the next heartbeat.
  var isProbeSent = false
  /// In replicate state: the last index of each append in flight (at most the bound).
  var inflight: [LogIndex] = []
  /// In snapshot state: the index of the snapshot sent.
  var pendingSnapshotIndex: LogIndex = 0
  /// In snapshot state: ticks since the snapshot was sent (it is resent after a timeout).
  var snapshotTicks = 0
  /// Heard from since the last CheckQuorum.
  var isRecentlyActive = false
  /// The highest ReadIndex round this follower acknowledged in the current term.
  var acknowledgedReadRound: UInt64 = 0

  init(next: LogIndex) { self.next = next }

  func isPaused(maxInflight: Int) -> Bool {
    switch state {
    case .probe: return isProbeSent
    case .replicate: return inflight.count >= maxInflight
    case .snapshot: return true
    }
  }

  mutating func becomeProbe() {
    if state == .snapshot {
      next = max(match + 1, pendingSnapshotIndex + 1)
    } else {
      next = match + 1
    }
    state = .probe
    isProbeSent = false
    inflight = []
    pendingSnapshotIndex = 0
  }

  mutating func becomeReplicate() {
    state = .replicate
    next = match + 1
    inflight = []
    pendingSnapshotIndex = 0
  }

  mutating func becomeSnapshot(index: LogIndex) {
    state = .snapshot
    pendingSnapshotIndex = index
    snapshotTicks = 0
    inflight = []
  }

  /// Records an acknowledgement of everything through `index`; returns whether match moved.
  mutating func acknowledge(through index: LogIndex) -> Bool {
    var moved = false
    if index > match {
      match = index
      moved = true
      isProbeSent = false
    }
    next = max(next, index + 1)
    inflight.removeAll { $0 <= index }
    return moved
  }

  /// Handles a rejection of the append whose previous index was `rejected`; `hint` is the
  /// follower's suggestion. Returns false when the rejection is stale.
  mutating func backOff(rejected: LogIndex, hint: LogIndex) -> Bool {
    switch state {
    case .replicate:
      guard rejected > match else { return false }
      becomeProbe()
      return true
    case .probe:
      guard next >= 1, next - 1 == rejected else { return false }
      next = max(min(rejected, hint + 1), match + 1)
      isProbeSent = false
      return true
    case .snapshot:
      return false
    }
  }
}
