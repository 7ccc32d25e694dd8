import CairnCore
import CairnRaft

/// The hand-coded encodings (CairnCore's `WireCoding.swift`) of the Raft types that travel and are
/// stored on every commit: `Message` batches in `.raft` frames, `LogEntry` and `HardState` records.
/// Kept here, not in `CairnRaft`, so the core stays free of any codec and imports nothing.
///
/// Each top-level encoding starts with its `WireFormat` marker byte. Records written by the
/// generic `BinaryEncoder` before (which start with a key-name length, never a marker) are still
/// decoded, as are message batches from a member running an older build.
public enum RaftWireCodec {
  /// Voters in one membership (the core has no bound of its own; this keeps decoding bounded).
  public static let maxVoters = 1024
  /// Entries in one append message (far above `RaftOptions.maxEntriesPerAppend`).
  public static let maxEntriesPerMessage = 1 << 20

  // MARK: Top-level encodings

  public static func encode(_ messages: [Message]) -> [UInt8] {
    var writer = WireWriter(capacity: 64 + messages.count * 48)
    writer.byte(WireFormat.raftMessages)
    writer.varint(UInt64(messages.count))
    for message in messages { write(message, to: &writer) }
    return writer.bytes
  }

  /// Decodes a batch of messages; a batch without the marker (an older member's) goes to the
  /// generic decoder, and so does one that the hand-coded decoder refuses, in case an older
  /// member's batch happened to start with the marker byte. The first error is reported.
  public static func decodeMessages(_ bytes: [UInt8]) throws(CairnError) -> [Message] {
    guard bytes.first == WireFormat.raftMessages else {
      return try BinaryDecoder().decodeOrThrow([Message].self, from: bytes)
    }
    var reader = WireReader(bytes, for: [Message].self)
    do {
      _ = try reader.byte()
      let count = try reader.count(limit: Limits.maxListItems, what: "message")
      var messages: [Message] = []
      messages.reserveCapacity(count)
      for _ in 0..<count { messages.append(try readMessage(from: &reader)) }
      try reader.finish()
      return messages
    } catch {
      if let legacy = try? BinaryDecoder().decode([Message].self, from: bytes) { return legacy }
      throw error
    }
  }

  public static func encode(_ entry: LogEntry) -> [UInt8] {
    var writer = WireWriter(capacity: entrySize(entry) + 8)
    writer.byte(WireFormat.logEntry)
    write(entry, to: &writer)
    return writer.bytes
  }

  public static func decodeLogEntry(_ bytes: [UInt8]) throws(CairnError) -> LogEntry {
    guard bytes.first == WireFormat.logEntry else {
      return try BinaryDecoder().decodeOrThrow(LogEntry.self, from: bytes)
    }
    var reader = WireReader(bytes, for: LogEntry.self)
    _ = try reader.byte()
    let entry = try readEntry(from: &reader)
    try reader.finish()
    return entry
  }

  public static func encode(_ state: HardState) -> [UInt8] {
    var writer = WireWriter(capacity: 32)
    writer.byte(WireFormat.hardState)
    writer.varint(state.term)
    writer.varint(state.votedFor.rawValue)
    writer.varint(state.commitIndex)
    return writer.bytes
  }

  public static func decodeHardState(_ bytes: [UInt8]) throws(CairnError) -> HardState {
    guard bytes.first == WireFormat.hardState else {
      return try BinaryDecoder().decodeOrThrow(HardState.self, from: bytes)
    }
    var reader = WireReader(bytes, for: HardState.self)
    _ = try reader.byte()
    let term = try reader.varint()
    let votedFor = NodeID(try reader.varint())
    let state = HardState(term: term, votedFor: votedFor, commitIndex: try reader.varint())
    try reader.finish()
    return state
  }

  // MARK: Fields

  static func entrySize(_ entry: LogEntry) -> Int {
    if case .command(let bytes) = entry.payload { return bytes.count + 24 }
    return 64
  }

  public static func write(_ message: Message, to writer: inout WireWriter) {
    writer.varint(message.from.rawValue)
    writer.varint(message.to.rawValue)
    writer.varint(message.term)
    switch message.kind {
    case .preVoteRequest(let lastIndex, let lastTerm):
      writer.byte(1)
      writer.varint(lastIndex)
      writer.varint(lastTerm)
    case .preVoteResponse(let granted):
      writer.byte(2)
      writer.bool(granted)
    case .voteRequest(let lastIndex, let lastTerm, let isTransfer):
      writer.byte(3)
      writer.varint(lastIndex)
      writer.varint(lastTerm)
      writer.bool(isTransfer)
    case .voteResponse(let granted):
      writer.byte(4)
      writer.bool(granted)
    case .appendRequest(let previousIndex, let previousTerm, let entries, let leaderCommit):
      writer.byte(5)
      writer.varint(previousIndex)
      writer.varint(previousTerm)
      writer.varint(UInt64(entries.count))
      for entry in entries { write(entry, to: &writer) }
      writer.varint(leaderCommit)
    case .appendResponse(let success, let index, let hintIndex):
      writer.byte(6)
      writer.bool(success)
      writer.varint(index)
      writer.varint(hintIndex)
    case .heartbeat(let commitIndex, let readRound):
      writer.byte(7)
      writer.varint(commitIndex)
      writer.varint(readRound)
    case .heartbeatResponse(let readRound):
      writer.byte(8)
      writer.varint(readRound)
    case .installSnapshot(let snapshot):
      writer.byte(9)
      writer.varint(snapshot.metadata.index)
      writer.varint(snapshot.metadata.term)
      write(snapshot.metadata.membership, to: &writer)
      writer.blob(snapshot.data)
    case .timeoutNow:
      writer.byte(10)
    }
  }

  public static func readMessage(from reader: inout WireReader) throws(CairnError) -> Message {
    let from = NodeID(try reader.varint())
    let to = NodeID(try reader.varint())
    let term = try reader.varint()
    let kind: MessageKind
    switch try reader.byte() {
    case 1:
      let lastIndex = try reader.varint()
      kind = .preVoteRequest(lastIndex: lastIndex, lastTerm: try reader.varint())
    case 2: kind = .preVoteResponse(granted: try reader.bool())
    case 3:
      let lastIndex = try reader.varint()
      let lastTerm = try reader.varint()
      kind = .voteRequest(lastIndex: lastIndex, lastTerm: lastTerm, isLeadershipTransfer: try reader.bool())
    case 4: kind = .voteResponse(granted: try reader.bool())
    case 5:
      let previousIndex = try reader.varint()
      let previousTerm = try reader.varint()
      let count = try reader.count(limit: maxEntriesPerMessage, what: "log entry")
      var entries: [LogEntry] = []
      entries.reserveCapacity(count)
      for _ in 0..<count { entries.append(try readEntry(from: &reader)) }
      kind = .appendRequest(
        previousIndex: previousIndex, previousTerm: previousTerm, entries: entries, leaderCommit: try reader.varint())
    case 6:
      let success = try reader.bool()
      let index = try reader.varint()
      kind = .appendResponse(success: success, index: index, hintIndex: try reader.varint())
    case 7:
      let commitIndex = try reader.varint()
      kind = .heartbeat(commitIndex: commitIndex, readRound: try reader.varint())
    case 8: kind = .heartbeatResponse(readRound: try reader.varint())
    case 9:
      let index = try reader.varint()
      let term = try reader.varint()
      let membership = try readMembership(from: &reader)
      let data = try reader.blob()
      kind = .installSnapshot(
        Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: membership), data: data))
    case 10: kind = .timeoutNow
    case let tag: throw reader.unknownTag(tag, of: "Raft message kind")
    }
    return Message(from: from, to: to, term: term, kind: kind)
  }

  public static func write(_ entry: LogEntry, to writer: inout WireWriter) {
    writer.varint(entry.index)
    writer.varint(entry.term)
    switch entry.payload {
    case .command(let bytes):
      writer.byte(1)
      writer.blob(bytes)
    case .membershipChange(let change, let resulting):
      writer.byte(2)
      switch change {
      case .addVoter(let node):
        writer.byte(1)
        writer.varint(node.rawValue)
      case .removeVoter(let node):
        writer.byte(2)
        writer.varint(node.rawValue)
      }
      write(resulting, to: &writer)
    case .noop:
      writer.byte(3)
    }
  }

  public static func readEntry(from reader: inout WireReader) throws(CairnError) -> LogEntry {
    let index = try reader.varint()
    guard index > 0 else { throw reader.fail("log entry index 0 (indexes start at 1)") }
    let term = try reader.varint()
    let payload: EntryPayload
    switch try reader.byte() {
    case 1: payload = .command(try reader.blob())
    case 2:
      let change: MembershipChange
      switch try reader.byte() {
      case 1: change = .addVoter(NodeID(try reader.varint()))
      case 2: change = .removeVoter(NodeID(try reader.varint()))
      case let tag: throw reader.unknownTag(tag, of: "membership change")
      }
      payload = .membershipChange(change, resulting: try readMembership(from: &reader))
    case 3: payload = .noop
    case let tag: throw reader.unknownTag(tag, of: "log entry payload")
    }
    return LogEntry(index: index, term: term, payload: payload)
  }

  static func write(_ membership: Membership, to writer: inout WireWriter) {
    writer.varint(UInt64(membership.voters.count))
    for voter in membership.voters { writer.varint(voter.rawValue) }
  }

  static func readMembership(from reader: inout WireReader) throws(CairnError) -> Membership {
    let count = try reader.count(limit: maxVoters, what: "voter")
    var voters: [NodeID] = []
    voters.reserveCapacity(count)
    for _ in 0..<count {
      let id = try reader.varint()
      guard id != 0 else { throw reader.fail("voter id 0 is reserved for 'no node'") }
      voters.append(NodeID(id))
    }
    return Membership(voters: voters)
  }
}
