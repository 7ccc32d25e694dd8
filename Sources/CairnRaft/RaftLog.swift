/// The in-memory log of a node: the latest snapshot plus the entries after it.
///
/// Invariants: entries are contiguous from `snapshotIndex + 1`, terms never decrease,
/// `snapshotIndex <= appliedIndex <= commitIndex <= lastIndex`.
struct RaftLog: Sendable {
  /// The latest snapshot (index 0 with the initial membership for a new group).
  private(set) var snapshot: Snapshot
  /// The entries after the snapshot.
  private(set) var entries: [LogEntry]
  /// The highest index known committed.
  private(set) var commitIndex: LogIndex
  /// The highest index handed to the application.
  private(set) var appliedIndex: LogIndex
  /// The lowest index written since the last `takeUnpersisted()`; nil if nothing was.
  private var firstUnpersistedIndex: LogIndex?

  init(snapshot: Snapshot, entries: [LogEntry], commitIndex: LogIndex, appliedIndex: LogIndex) {
    self.snapshot = snapshot
    self.entries = entries
    self.commitIndex = max(commitIndex, snapshot.metadata.index)
    self.appliedIndex = max(appliedIndex, snapshot.metadata.index)
    precondition(self.commitIndex <= snapshot.metadata.index + LogIndex(entries.count),
      "persisted commit index beyond the persisted log")
    precondition(self.appliedIndex <= self.commitIndex, "applied beyond committed")
    for (offset, entry) in entries.enumerated() {
      precondition(entry.index == snapshot.metadata.index + 1 + LogIndex(offset), "log has a gap")
    }
  }

  var snapshotIndex: LogIndex { snapshot.metadata.index }
  var snapshotTerm: Term { snapshot.metadata.term }
  var lastIndex: LogIndex { snapshotIndex + LogIndex(entries.count) }
  var lastTerm: Term { entries.last?.term ?? snapshotTerm }

  /// The term of the entry at `index`, or nil when it is compacted away or beyond the end.
  func term(at index: LogIndex) -> Term? {
    if index == snapshotIndex { return snapshotTerm }
    guard index > snapshotIndex, index <= lastIndex else { return nil }
    return entries[Int(index - snapshotIndex - 1)].term
  }

  /// The entry at `index`, if present in memory.
  func entry(at index: LogIndex) -> LogEntry? {
    guard index > snapshotIndex, index <= lastIndex else { return nil }
    return entries[Int(index - snapshotIndex - 1)]
  }

  /// Whether the log holds an entry with this index and term (the AppendEntries check).
  func matches(index: LogIndex, term: Term) -> Bool { self.term(at: index) == term }

  /// Raft §5.4.1: a candidate's log is at least as up to date as ours.
  func isUpToDate(lastIndex otherIndex: LogIndex, lastTerm otherTerm: Term) -> Bool {
    otherTerm > lastTerm || (otherTerm == lastTerm && otherIndex >= lastIndex)
  }

  /// Up to `maxCount` entries from `index`, within `maxBytes` (always at least one).
  func entries(from index: LogIndex, maxCount: Int, maxBytes: Int) -> [LogEntry] {
    guard index > snapshotIndex, index <= lastIndex else { return [] }
    var result: [LogEntry] = []
    var bytes = 0
    var position = Int(index - snapshotIndex - 1)
    while position < entries.count, result.count < maxCount {
      let entry = entries[position]
      bytes += entry.sizeBytes
      if !result.isEmpty && bytes > maxBytes { break }
      result.append(entry)
      position += 1
    }
    return result
  }

  /// The membership in effect at `index`: that of the last change entry at or before it,
  /// else the snapshot's.
  func membership(through index: LogIndex) -> Membership {
    for entry in entries.reversed() where entry.index <= index {
      if case .membershipChange(_, let membership) = entry.payload { return membership }
    }
    return snapshot.metadata.membership
  }

  /// The index of the last membership-change entry after `index`, if any.
  func lastMembershipChangeIndex(after index: LogIndex) -> LogIndex? {
    for entry in entries.reversed() where entry.index > index {
      if case .membershipChange = entry.payload { return entry.index }
    }
    return nil
  }

  /// For a rejected append at (`index`, `term`): the largest index at or below `index` whose
  /// term is at most `term`. Entries after it cannot match the leader's, so it may skip them.
  func conflictHint(index: LogIndex, term: Term) -> LogIndex {
    var hint = min(index, lastIndex)
    while hint > snapshotIndex, let entryTerm = self.term(at: hint), entryTerm > term {
      hint -= 1
    }
    return hint
  }

  /// Appends a leader's own new entry.
  mutating func append(_ entry: LogEntry) {
    precondition(entry.index == lastIndex + 1, "append must extend the log")
    precondition(entry.term >= lastTerm, "terms in the log never decrease")
    entries.append(entry)
    markUnpersisted(entry.index)
  }

  /// Merges entries received after (`previousIndex`, matching): existing matching entries are
  /// kept, the first conflicting one and everything after it are replaced.
  /// Returns whether any entry was truncated.
  mutating func merge(_ incoming: [LogEntry]) -> Bool {
    var truncated = false
    for entry in incoming {
      if entry.index <= snapshotIndex { continue }
      if let existing = term(at: entry.index) {
        if existing == entry.term { continue }
        precondition(entry.index > commitIndex, "a committed entry would be overwritten")
        entries.removeLast(Int(lastIndex - entry.index + 1))
        truncated = true
      }
      append(entry)
    }
    return truncated
  }

  /// Advances the commit index (never backwards).
  mutating func commit(to index: LogIndex) {
    guard index > commitIndex else { return }
    precondition(index <= lastIndex, "commit index beyond the log")
    commitIndex = index
  }

  /// Returns the entries newly written, for `RaftEffects.entriesToPersist`.
  mutating func takeUnpersisted() -> [LogEntry] {
    guard let first = firstUnpersistedIndex else { return [] }
    firstUnpersistedIndex = nil
    guard first <= lastIndex else { return [] }
    return Array(entries[Int(first - snapshotIndex - 1)...])
  }

  /// Returns committed entries not yet handed to the application and marks them applied.
  mutating func takeCommittedForApplication() -> [LogEntry] {
    guard commitIndex > appliedIndex else { return [] }
    let from = Int(appliedIndex - snapshotIndex)
    let through = Int(commitIndex - snapshotIndex)
    appliedIndex = commitIndex
    return Array(entries[from..<through])
  }

  /// Replaces the prefix through the snapshot's index by the snapshot (application-made).
  mutating func compact(to newSnapshot: Snapshot) {
    let index = newSnapshot.metadata.index
    precondition(index > snapshotIndex && index <= appliedIndex, "compaction beyond applied")
    precondition(term(at: index) == newSnapshot.metadata.term, "snapshot term mismatch")
    entries.removeFirst(Int(index - snapshotIndex))
    snapshot = newSnapshot
  }

  /// Replaces the whole log by a snapshot received from the leader.
  mutating func restore(_ newSnapshot: Snapshot) {
    precondition(newSnapshot.metadata.index > commitIndex, "restore would lose committed entries")
    snapshot = newSnapshot
    entries = []
    commitIndex = newSnapshot.metadata.index
    appliedIndex = newSnapshot.metadata.index
    firstUnpersistedIndex = nil
  }

  private mutating func markUnpersisted(_ index: LogIndex) {
    firstUnpersistedIndex = min(firstUnpersistedIndex ?? index, index)
  }
}
