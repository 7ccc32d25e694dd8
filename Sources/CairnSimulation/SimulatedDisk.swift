import CairnRaft

/// A node's disk: what was fsynced survives a crash; writes still buffered do not.
/// It applies `RaftEffects` step 1 exactly as a real server must, and reports any effects
/// batch that would leave a hole or contradict what is stored (a contract violation).
struct SimulatedDisk {
  private(set) var hardState = HardState()
  private(set) var snapshot: Snapshot
  private(set) var entries: [LogEntry] = []

  init(bootstrap: PersistentState) {
    hardState = bootstrap.hardState
    snapshot = bootstrap.snapshot
    entries = bootstrap.entries
  }

  /// What a restarting server reads back.
  var persistentState: PersistentState {
    PersistentState(hardState: hardState, snapshot: snapshot, entries: entries)
  }

  /// Persists one batch; returns a description of the problem if the batch breaks the contract.
  mutating func write(_ effects: RaftEffects) -> String? {
    if let newSnapshot = effects.snapshotToPersist {
      snapshot = newSnapshot
      if effects.installsSnapshot {
        entries = []
      } else {
        entries.removeAll { $0.index <= newSnapshot.metadata.index }
      }
    }
    if let first = effects.entriesToPersist.first {
      let snapshotIndex = snapshot.metadata.index
      guard first.index > snapshotIndex else {
        return "entries from \(first.index) overlap snapshot at \(snapshotIndex)"
      }
      let lastIndex = snapshotIndex + LogIndex(entries.count)
      guard first.index <= lastIndex + 1 else {
        return "entries from \(first.index) leave a hole after \(lastIndex)"
      }
      entries.removeLast(Int(lastIndex + 1 - first.index))
      entries.append(contentsOf: effects.entriesToPersist)
    }
    if let newHardState = effects.hardState {
      guard newHardState.term >= hardState.term else {
        return "hard state term went back from \(hardState.term) to \(newHardState.term)"
      }
      hardState = newHardState
    }
    let lastIndex = snapshot.metadata.index + LogIndex(entries.count)
    if hardState.commitIndex > lastIndex {
      // Allowed only transiently inside one batch; after it, the log must cover the commit.
      return "persisted commit \(hardState.commitIndex) beyond persisted log \(lastIndex)"
    }
    return nil
  }
}
