import CairnCore
import CairnKV
import CairnRaft
import CairnRaftStorage
import CairnRocksDB
import Foundation
import XCTest

/// The batches the crash child writes: three entries per round with the hard state's commit
/// index at the last of them; every tenth round a new term overwrites the last five entries, so
/// the batch also deletes a suffix. A torn batch would show as a commit index that is not the
/// last index, or a term that does not match.
struct CrashWorkload {
  private var next: LogIndex = 1
  private var term: Term = 1
  private(set) var round = 0

  mutating func nextBatch() -> (hardState: HardState, entries: [LogEntry]) {
    round += 1
    if round % 10 == 0 {
      term += 1
      next = max(1, next - 5)
    }
    let entries = (next...(next + 2)).map { Fixtures.entry($0, term) }
    next += 3
    return (HardState(term: term, votedFor: 1, commitIndex: next - 1), entries)
  }
}

/// Kills a process that is persisting batches to RocksDB at random moments (SIGKILL) and checks
/// that the reopened log is exactly the state after some whole batch at or after the last one
/// the child acknowledged. The child is this test bundle, re-run with one test selected.
final class ProcessCrashTests: XCTestCase {
  static let childDirectoryVariable = "CAIRN_RAFTSTORE_CRASH_CHILD_DIR"
  static let maxChildRounds = 20_000

  /// The child's body; does nothing in a normal test run.
  func testChildWriterRunsOnlyWhenAsked() throws {
    guard let path = ProcessInfo.processInfo.environment[Self.childDirectoryVariable] else { return }
    let log = try RaftLogStore(store: RocksDBStore(path: path))
    try log.overwrite(with: .bootstrap(voters: Fixtures.voters))
    var workload = CrashWorkload()
    while workload.round < Self.maxChildRounds {
      let (hardState, entries) = workload.nextBatch()
      try log.persist(hardState: hardState, snapshot: nil, entries: entries)
      FileHandle.standardOutput.write(Data("ack \(workload.round)\n".utf8))
    }
  }

  func testKilledWriterLeavesOnlyWholeBatches() throws {
    #if !os(Linux)
      throw XCTSkip("re-runs the test bundle as a child process the way swift-corelibs-xctest allows")
    #endif
    let directory = try TemporaryDirectory()
    let executable = try XCTUnwrap(ProcessInfo.processInfo.arguments.first)
    for (attempt, killAfter) in [40, 170, 333].enumerated() {
      let path = directory.path + "/db\(attempt)"
      let acknowledged = try runChild(executable: executable, path: path, killAfter: killAfter)
      XCTAssertGreaterThanOrEqual(acknowledged, killAfter)

      let loaded = try XCTUnwrap(try RaftLogStore(store: RocksDBStore(path: path)).load(), "attempt \(attempt)")
      XCTAssertEqual(loaded.hardState.commitIndex, loaded.entries.last?.index, "attempt \(attempt): whole batch")
      XCTAssertEqual(loaded.hardState.term, loaded.entries.last?.term, "attempt \(attempt): whole batch")

      // The same batches fed to a MemoryStore twin: the crash state must be one of its states.
      let twin = try RaftLogStore(store: MemoryStore())
      try twin.overwrite(with: .bootstrap(voters: Fixtures.voters))
      var workload = CrashWorkload()
      var matchedRound: Int?
      while workload.round < acknowledged + 50 {
        let (hardState, entries) = workload.nextBatch()
        try twin.persist(hardState: hardState, snapshot: nil, entries: entries)
        if workload.round >= acknowledged, try twin.load() == loaded {
          matchedRound = workload.round
          break
        }
      }
      XCTAssertNotNil(
        matchedRound, "attempt \(attempt): the crash state is no whole-batch state after round \(acknowledged)")
    }
  }

  /// Runs the child until it acknowledged `killAfter` rounds, kills it with SIGKILL, and returns
  /// the last round it acknowledged.
  private func runChild(executable: String, path: String, killAfter: Int) throws -> Int {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: executable)
    child.arguments = ["CairnRaftStorageTests.ProcessCrashTests/testChildWriterRunsOnlyWhenAsked"]
    var environment = ProcessInfo.processInfo.environment
    environment[Self.childDirectoryVariable] = path
    child.environment = environment
    let output = Pipe()
    child.standardOutput = output
    child.standardError = FileHandle.nullDevice
    try child.run()
    var text = ""
    var acknowledged = 0
    let deadline = Date().addingTimeInterval(60)
    while acknowledged < killAfter, Date() < deadline {
      let data = output.fileHandleForReading.availableData
      if data.isEmpty { break }  // the child exited
      text += String(decoding: data, as: UTF8.self)
      let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
      for line in lines.dropLast() where line.hasPrefix("ack ") {
        acknowledged = max(acknowledged, Int(line.dropFirst(4)) ?? 0)
      }
      text = String(lines.last ?? "")
    }
    kill(child.processIdentifier, SIGKILL)
    child.waitUntilExit()
    // Acknowledgements already in the pipe were made before the kill.
    let rest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    for line in (text + rest).split(separator: "\n") where line.hasPrefix("ack ") {
      acknowledged = max(acknowledged, Int(line.dropFirst(4)) ?? 0)
    }
    XCTAssertEqual(child.terminationReason, .uncaughtSignal, "the child was killed, it did not finish or fail")
    return acknowledged
  }
}
