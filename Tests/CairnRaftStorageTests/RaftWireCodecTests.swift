import CairnCore
import CairnKV
import CairnRaft
import CairnTestSupport
import XCTest

@testable import CairnRaftStorage

final class RaftWireCodecTests: XCTestCase {
  static let membership = Membership(voters: [NodeID(1), NodeID(2), NodeID(300)])
  static let entries: [LogEntry] = [
    LogEntry(index: 1, term: 1, payload: .noop),
    LogEntry(index: 2, term: 1, payload: .command([])),
    LogEntry(index: 3, term: 2, payload: .command(Array(0...255))),
    LogEntry(index: 4, term: 2, payload: .membershipChange(.addVoter(NodeID(300)), resulting: membership)),
    LogEntry(index: .max, term: .max, payload: .membershipChange(.removeVoter(NodeID(2)), resulting: .empty)),
  ]
  static let kinds: [MessageKind] = [
    .preVoteRequest(lastIndex: 5, lastTerm: 2), .preVoteResponse(granted: true),
    .voteRequest(lastIndex: 1 << 40, lastTerm: 3, isLeadershipTransfer: true), .voteResponse(granted: false),
    .appendRequest(previousIndex: 0, previousTerm: 0, entries: entries, leaderCommit: 3),
    .appendRequest(previousIndex: 9, previousTerm: 1, entries: [], leaderCommit: 9),
    .appendResponse(success: false, index: 7, hintIndex: 3), .heartbeat(commitIndex: 4, readRound: 99),
    .heartbeatResponse(readRound: 99),
    .installSnapshot(
      Snapshot(metadata: SnapshotMetadata(index: 10, term: 2, membership: membership), data: [1, 2, 3])),
    .timeoutNow,
  ]
  static var messages: [Message] {
    kinds.enumerated().map { Message(from: NodeID(UInt64($0.offset % 3 + 1)), to: 2, term: UInt64($0.offset), kind: $0.element) }
  }

  func testMessagesRoundTrip() throws {
    let messages = Self.messages
    XCTAssertEqual(try RaftWireCodec.decodeMessages(RaftWireCodec.encode(messages)), messages)
    XCTAssertEqual(try RaftWireCodec.decodeMessages(RaftWireCodec.encode([])), [])
    for message in messages {
      XCTAssertEqual(try RaftWireCodec.decodeMessages(RaftWireCodec.encode([message])), [message])
    }
  }

  func testEntriesAndHardStateRoundTrip() throws {
    for entry in Self.entries {
      let bytes = RaftWireCodec.encode(entry)
      XCTAssertEqual(bytes.first, WireFormat.logEntry)
      XCTAssertEqual(try RaftWireCodec.decodeLogEntry(bytes), entry)
    }
    let state = HardState(term: 7, votedFor: NodeID(3), commitIndex: 1 << 33)
    XCTAssertEqual(try RaftWireCodec.decodeHardState(RaftWireCodec.encode(state)), state)
    XCTAssertEqual(try RaftWireCodec.decodeHardState(RaftWireCodec.encode(HardState())), HardState())
  }

  /// Records and frames written by the generic codec before (stored logs, older members) still decode.
  func testOlderGenericEncodingsStillDecode() throws {
    let messages = Self.messages
    XCTAssertEqual(try RaftWireCodec.decodeMessages(BinaryEncoder().encode(messages)), messages)
    for entry in Self.entries {
      XCTAssertEqual(try RaftWireCodec.decodeLogEntry(BinaryEncoder().encode(entry)), entry)
    }
    let state = HardState(term: 7, votedFor: NodeID(3), commitIndex: 12)
    XCTAssertEqual(try RaftWireCodec.decodeHardState(BinaryEncoder().encode(state)), state)
  }

  func testHostileInputIsRefused() throws {
    for message in Self.messages {
      assertRefused(RaftWireCodec.encode([message])) { b throws(CairnError) in try RaftWireCodec.decodeMessages(b) }
    }
    for entry in Self.entries {
      assertRefused(RaftWireCodec.encode(entry)) { b throws(CairnError) in try RaftWireCodec.decodeLogEntry(b) }
    }
    assertRefused(RaftWireCodec.encode(HardState(term: 1, votedFor: 2, commitIndex: 3))) { b throws(CairnError) in
      try RaftWireCodec.decodeHardState(b)
    }
  }

  func testInvalidFieldsAreNamed() {
    func message(_ bytes: [UInt8], _ decode: ([UInt8]) throws(CairnError) -> Any) -> String {
      do {
        _ = try decode(bytes)
        return "decoded"
      } catch { return error.message }
    }
    let entry = { (b: [UInt8]) throws(CairnError) -> Any in try RaftWireCodec.decodeLogEntry(b) }
    XCTAssertTrue(message([WireFormat.logEntry, 0, 1, 3], entry).contains("index 0"))
    XCTAssertTrue(message([WireFormat.logEntry, 1, 1, 4], entry).contains("unknown log entry payload tag 4"))
    XCTAssertTrue(message([WireFormat.logEntry, 1, 1, 2, 1, 5, 1, 0], entry).contains("voter id 0"))
    XCTAssertTrue(message([WireFormat.logEntry, 1, 1, 2, 3, 5], entry).contains("unknown membership change tag 3"))
    let messages = { (b: [UInt8]) throws(CairnError) -> Any in try RaftWireCodec.decodeMessages(b) }
    XCTAssertTrue(message([WireFormat.raftMessages, 1, 1, 2, 3, 11], messages).contains("unknown Raft message kind tag 11"))
    XCTAssertTrue(message([WireFormat.raftMessages, 0xFF, 0xFF, 0x7F], messages).contains("exceeds the limit"))
  }

  func testStoredLogUsesTheCompactFormatAndReadsOldRecords() throws {
    let store = MemoryStore()
    let log = try RaftLogStore(store: store)
    try log.overwrite(with: .bootstrap(voters: [1, 2, 3]))
    let entries = Array(Self.entries.prefix(4))
    try log.persist(
      hardState: HardState(term: 2, votedFor: 1, commitIndex: 2), snapshot: nil, installsSnapshot: false, entries: entries)
    let raw = try XCTUnwrap(try store.get(RaftLogStore.entryKey(3)))
    XCTAssertEqual(raw.first, WireFormat.logEntry)
    XCTAssertEqual(try XCTUnwrap(try log.load()).entries, entries)
    // A record written by an earlier build (generic encoding) is read back the same.
    var batch = WriteBatch()
    batch.put(RaftLogStore.entryKey(3), try BinaryEncoder().encode(entries[2]))
    batch.put(RaftLogStore.hardStateKey, try BinaryEncoder().encode(HardState(term: 2, votedFor: 1, commitIndex: 2)))
    try store.write(batch, sync: true)
    let reloaded = try XCTUnwrap(try log.load())
    XCTAssertEqual(reloaded.entries, entries)
    XCTAssertEqual(reloaded.hardState, HardState(term: 2, votedFor: 1, commitIndex: 2))
    // A damaged record is reported as corruption of that entry.
    batch = WriteBatch()
    batch.put(RaftLogStore.entryKey(3), [WireFormat.logEntry, 3, 2, 9])
    try store.write(batch, sync: true)
    XCTAssertThrowsError(try log.load()) { error in
      XCTAssertTrue("\(error)".contains("log entry 3 record is malformed"), "\(error)")
    }
  }

  private func assertRefused<T>(
    _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line, _ decode: ([UInt8]) throws(CairnError) -> T
  ) {
    XCTAssertEqual(hostileInputProblems(bytes, decode), [], file: file, line: line)
  }
}

final class RaftLogFormatVersionTests: XCTestCase {
  /// A store written by a build before the hand-coded format (version 1, generic records) opens
  /// and loads; the next write stamps version 2, which such a build refuses by name.
  func testVersion1StoreIsReadAndUpgradedOnWrite() throws {
    let store = MemoryStore()
    let entries = [
      LogEntry(index: 1, term: 1, payload: .noop), LogEntry(index: 2, term: 1, payload: .command([7, 8])),
    ]
    var batch = WriteBatch()
    batch.put(RaftLogStore.versionKey, RaftLogStore.encodeVersion(1))
    batch.put(RaftLogStore.hardStateKey, try BinaryEncoder().encode(HardState(term: 1, votedFor: 1, commitIndex: 2)))
    let snapshot = Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: [1])), data: [])
    batch.put(RaftLogStore.snapshotKey, try BinaryEncoder().encode(snapshot))
    for entry in entries { batch.put(RaftLogStore.entryKey(entry.index), try BinaryEncoder().encode(entry)) }
    try store.write(batch, sync: true)

    let log = try RaftLogStore(store: store)
    let loaded = try XCTUnwrap(try log.load())
    XCTAssertEqual(loaded.entries, entries)
    XCTAssertEqual(loaded.hardState, HardState(term: 1, votedFor: 1, commitIndex: 2))
    XCTAssertEqual(try store.get(RaftLogStore.versionKey), RaftLogStore.encodeVersion(1))

    let next = LogEntry(index: 3, term: 1, payload: .command([9]))
    try log.persist(hardState: nil, snapshot: nil, entries: [next])
    XCTAssertEqual(try store.get(RaftLogStore.versionKey), RaftLogStore.encodeVersion(2))
    XCTAssertEqual(try XCTUnwrap(try log.load()).entries, entries + [next])
  }
}
