import CairnCore
import CairnMetadata
import CairnRaft

/// What the Raft log of the metadata group carries: metadata commands, and members' addresses
/// (so every member, and a member added later, knows where the others answer).
///
/// Encoded with the hand-coded codec behind the marker `WireFormat.replicatedCommand` (tag 1:
/// metadata command, tag 2: member address). Entries written before it (the generic
/// `BinaryEncoder`, which never starts with the marker) are still decoded.
enum ReplicatedCommand: Codable, Sendable, Equatable {
  case metadata(MetadataCommand)
  case memberAddress(id: UInt64, address: String)

  func encoded() throws(CairnError) -> [UInt8] {
    var writer = WireWriter()
    writer.byte(WireFormat.replicatedCommand)
    switch self {
    case .metadata(let command):
      writer.byte(1)
      writer.value(command)
    case .memberAddress(let id, let address):
      writer.byte(2)
      writer.varint(id)
      writer.string(address)
    }
    return writer.bytes
  }

  init(decoding bytes: [UInt8]) throws(CairnError) {
    guard bytes.first == WireFormat.replicatedCommand else {
      self = try BinaryDecoder().decodeOrThrow(ReplicatedCommand.self, from: bytes)
      return
    }
    var reader = WireReader(bytes, for: ReplicatedCommand.self)
    _ = try reader.byte()
    switch try reader.byte() {
    case 1: self = .metadata(try reader.value(MetadataCommand.self))
    case 2:
      let id = try reader.varint()
      self = .memberAddress(id: id, address: try reader.string())
    case let tag: throw reader.unknownTag(tag, of: "ReplicatedCommand")
    }
    try reader.finish()
  }
}

/// The effects of several `step`s merged into one batch, so one synced write (one fsync) covers
/// every input that arrived while the previous batch was being written: group commit.
///
/// Merging keeps the contract of `RaftEffects`: entries of a later step replace the merged
/// entries at and after their first index (the log stays contiguous), the last hard state wins,
/// and messages, committed entries, reads and proposal outcomes keep their order. A step that
/// carries a snapshot is never merged (the driver writes the batch before it on its own).
struct RaftBatch: Sendable {
  var hardState: HardState?
  var entries: [LogEntry] = []
  var messages: [Message] = []
  var committed: [LogEntry] = []
  var readsReady: [ReadState] = []
  var readsFailed: [ReadFailure] = []
  var proposals: [ProposalOutcome] = []

  var isEmpty: Bool {
    hardState == nil && entries.isEmpty && messages.isEmpty && committed.isEmpty && readsReady.isEmpty
      && readsFailed.isEmpty && proposals.isEmpty
  }

  var needsPersistence: Bool { hardState != nil || !entries.isEmpty }

  /// Whether the committed entries may be applied (and their proposers answered) before this
  /// batch's own write: when every one of them was already on disk before the batch (index at
  /// most `durableLastIndex`, below the first new entry) and the batch changes neither term nor
  /// vote (only then is its hard state a mere commit-index move, written unsynced ahead of the
  /// applies). Not in a one-member group's batch that commits its own new entries.
  func appliesBeforeItsWrite(durableLastIndex: LogIndex, durable: HardState) -> Bool {
    guard needsPersistence, let last = committed.last, last.index <= durableLastIndex else { return false }
    if let first = entries.first, first.index <= last.index { return false }
    guard let hardState else { return true }
    return hardState.term == durable.term && hardState.votedFor == durable.votedFor
      && hardState.commitIndex <= durableLastIndex
  }

  mutating func merge(_ effects: RaftEffects) {
    precondition(effects.snapshotToPersist == nil, "a snapshot step is never merged")
    if let hardState = effects.hardState { self.hardState = hardState }
    if let first = effects.entriesToPersist.first {
      if let last = entries.last {
        precondition(first.index <= last.index + 1, "merged entries would leave a gap")
      }
      entries.removeAll { $0.index >= first.index }
      entries += effects.entriesToPersist
    }
    messages += effects.messages
    if let first = effects.committedEntries.first, let last = committed.last {
      precondition(first.index == last.index + 1, "committed entries out of order")
    }
    committed += effects.committedEntries
    readsReady += effects.readsReady
    readsFailed += effects.readsFailed
    proposals += effects.proposals
  }
}

/// Splits messages into groups whose encodings stay under `maxBytes` (at least one message per
/// group), so one `.raft` frame never exceeds the frame limit.
func packMessages(_ messages: [Message], maxBytes: Int) -> [[Message]] {
  var groups: [[Message]] = []
  var current: [Message] = []
  var size = 0
  for message in messages {
    var estimate = 64
    if case .appendRequest(_, _, let entries, _) = message.kind {
      estimate += entries.reduce(0) { $0 + $1.sizeBytes + 32 }
    } else if case .installSnapshot(let snapshot) = message.kind {
      estimate += snapshot.data.count + 64
    }
    if !current.isEmpty && size + estimate > maxBytes {
      groups.append(current)
      current = []
      size = 0
    }
    current.append(message)
    size += estimate
  }
  if !current.isEmpty { groups.append(current) }
  return groups
}
