import CairnRaft

/// The replicated state machine of the simulation: the index applied and a hash chain over
/// every applied entry. Two nodes that applied the same entries have the same hash.
struct SimulatedStateMachine: Equatable {
  var appliedIndex: LogIndex = 0
  var hash: UInt64 = 0

  /// The snapshot bytes: index and hash, little-endian.
  var snapshotData: [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: appliedIndex >> (8 * $0)) }
      + (0..<8).map { UInt8(truncatingIfNeeded: hash >> (8 * $0)) }
  }

  init() {}

  init?(snapshotData data: [UInt8]) {
    if data.isEmpty { return }
    guard data.count == 16 else { return nil }
    appliedIndex = (0..<8).reduce(0) { $0 | UInt64(data[$1]) << (8 * $1) }
    hash = (0..<8).reduce(0) { $0 | UInt64(data[8 + $1]) << (8 * $1) }
  }

  mutating func apply(_ entry: LogEntry) {
    appliedIndex = entry.index
    hash = Self.mix(hash, Self.digest(of: entry))
  }

  static func digest(of entry: LogEntry) -> UInt64 {
    var value = mix(entry.index, entry.term)
    switch entry.payload {
    case .noop: value = mix(value, 1)
    case .command(let bytes): value = mix(value, commandID(of: bytes) ?? 2)
    case .membershipChange(.addVoter(let node), let result):
      value = mix(mix(value, 3 &+ node.rawValue << 8), UInt64(result.voters.count))
    case .membershipChange(.removeVoter(let node), let result):
      value = mix(mix(value, 4 &+ node.rawValue << 8), UInt64(result.voters.count))
    }
    return value
  }

  static func commandID(of bytes: [UInt8]) -> UInt64? {
    guard bytes.count >= 8 else { return nil }
    return (0..<8).reduce(0) { $0 | UInt64(bytes[$1]) << (8 * $1) }
  }

  static func command(id: UInt64, padding: Int) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: id >> (8 * $0)) } + [UInt8](repeating: 0xAB, count: padding)
  }

  static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var z = a &* 0x9E37_79B9_7F4A_7C15 ^ b
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// One simulated server: a Raft node (nil while crashed), its disk, its state machine, and
/// the effects batches it has produced but not yet made durable (outputs are held back until
/// the fsync, exactly as a pipelined server must).
final class SimulatedNode {
  let id: NodeID
  var raft: RaftNode?
  var disk: SimulatedDisk
  var stateMachine = SimulatedStateMachine()
  var unsyncedBatches: [RaftEffects] = []
  var isSyncScheduled = false
  var restarts: UInt64 = 0
  /// The role and term seen after the last step, to detect transitions.
  var lastRole: RaftNode.Role = .follower
  var lastTerm: Term = 0

  init(id: NodeID, bootstrap: PersistentState) {
    self.id = id
    self.disk = SimulatedDisk(bootstrap: bootstrap)
  }

  var isUp: Bool { raft != nil }
}
