import CairnChaos
import Foundation

/// Records the run's operations as they happen, to memory and to `history.jsonl` (one line per
/// event, flushed as written, so a crashed run still leaves its history). Thread-safe.
final class HistoryRecorder: @unchecked Sendable {
  private let lock = NSLock()
  private var events: [HistoryEvent] = []
  private var nextOp = 0
  private let start = ContinuousClock.now
  private let file: FileHandle?
  /// Most events kept (a bound on memory; a run past it keeps writing the file).
  static let maxEvents = 2_000_000

  init(path: String) {
    FileManager.default.createFile(atPath: path, contents: nil)
    file = FileHandle(forWritingAtPath: path)
  }

  /// Seconds since the run started.
  func now() -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
  }

  /// Starts an operation and returns its id.
  func invoke(_ kind: OperationKind, process: String, _ fill: (inout HistoryEvent) -> Void = { _ in }) -> Int {
    lock.lock()
    nextOp += 1
    let op = nextOp
    lock.unlock()
    var e = HistoryEvent(op: op, type: .invoke, kind: kind, time: now(), process: process)
    fill(&e)
    append(e)
    return op
  }

  /// Ends operation `op` with `type`.
  func complete(
    _ op: Int, _ type: EventType, kind: OperationKind, process: String, _ fill: (inout HistoryEvent) -> Void = { _ in }
  ) {
    var e = HistoryEvent(op: op, type: type, kind: kind, time: now(), process: process)
    fill(&e)
    append(e)
  }

  private func append(_ e: HistoryEvent) {
    let line = Data((e.jsonLine() + "\n").utf8)
    lock.lock()
    defer { lock.unlock() }
    if events.count < Self.maxEvents { events.append(e) }
    file?.write(line)
  }

  var history: History { lock.withLock { History(events) } }

  func close() { try? file?.close() }
}
