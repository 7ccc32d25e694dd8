import Foundation

/// Kinds of operation in a chaos history.
public enum OperationKind: String, Sendable, Codable, CaseIterable, Comparable {
  /// A container mounting the volume (new mounts).
  case mount
  /// A read of a file with a hash check (running reads).
  case read
  /// A commit of a container's checkpoint.
  case commit
  /// A reload to the newest version.
  case reload
  /// A container exiting (unmount; FUSE containers commit on exit).
  case unmount
  /// A fault injected by the harness (the "nemesis"); invoke = start, ok = end.
  case fault
  /// A read made after the run to check acknowledged commits survived.
  case verify
  /// The versions one metadata server holds at the end of the run.
  case metaState = "meta-state"

  public static func < (a: OperationKind, b: OperationKind) -> Bool { a.rawValue < b.rawValue }

  /// Kinds the workload performs (what availability is measured on).
  public static let workload: [OperationKind] = [.mount, .read, .commit, .reload, .unmount]
}

/// How an event ends (or starts) an operation, Jepsen style.
public enum EventType: String, Sendable, Codable {
  case invoke
  case ok
  case fail
  /// The outcome is not known (a timed-out commit may or may not have applied).
  case unknown
  /// Something worth recording that is not an operation's completion (a queued commit).
  case info
}

/// One line of `history.jsonl`.
public struct HistoryEvent: Sendable, Codable, Equatable {
  /// Identifies the operation: its invoke and completion share it.
  public var op: Int
  public var type: EventType
  public var kind: OperationKind
  /// Seconds since the run started (monotonic).
  public var time: Double
  /// Who did it: a container (`c17`, `fuse-2`, `storm-0-113`), `nemesis`, `verifier`.
  public var process: String
  public var volume: String?
  public var version: UInt64?
  public var path: String?
  /// SHA-256 (hex) of the bytes read, written or committed.
  public var hash: String?
  /// The hash the reader expected, when it knew (the shared model's content).
  public var expectedHash: String?
  public var error: String?
  /// Free text: the fault's label, the metadata server, "queued (degraded mode)".
  public var detail: String?
  /// For `meta-state`: the versions the server lists, oldest first.
  public var versions: [UInt64]?
  /// For `meta-state`: one digest per version (author, parent, change count), aligned with `versions`.
  public var versionDigests: [String]?

  public init(op: Int, type: EventType, kind: OperationKind, time: Double, process: String) {
    self.op = op
    self.type = type
    self.kind = kind
    self.time = time
    self.process = process
  }

  /// One JSON line (keys sorted, no trailing newline).
  public func jsonLine() -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(self) else { return "{}" }
    return String(decoding: data, as: UTF8.self)
  }
}

/// A whole history: events in the order they happened, with operations paired up.
public struct History: Sendable {
  public private(set) var events: [HistoryEvent]

  public init(_ events: [HistoryEvent]) {
    self.events = events.sorted { ($0.time, $0.op) < ($1.time, $1.op) }
  }

  /// Parses `history.jsonl`; a bad line is reported with its number.
  public init(jsonLines text: String) throws(ScenarioError) {
    var out: [HistoryEvent] = []
    let decoder = JSONDecoder()
    for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
      do {
        out.append(try decoder.decode(HistoryEvent.self, from: Data(line.utf8)))
      } catch {
        throw ScenarioError("history line \(i + 1) is not a valid event: \(error)")
      }
    }
    self.init(out)
  }

  public func jsonLines() -> String { events.map { $0.jsonLine() + "\n" }.joined() }

  /// A completed operation: its invoke and how it ended (nil while still open at the end).
  public struct Operation: Sendable {
    public var invoke: HistoryEvent
    public var completion: HistoryEvent?
    public var kind: OperationKind { invoke.kind }
    public var start: Double { invoke.time }
    public var end: Double? { completion?.time }
    /// `ok`, `fail`, `unknown`, or `unknown` when never completed.
    public var outcome: EventType { completion?.type ?? .unknown }
  }

  /// Operations paired by `op`, in invoke order. `info` events are not completions.
  public var operations: [Operation] {
    var byOp: [Int: Int] = [:]
    var out: [Operation] = []
    for e in events {
      switch e.type {
      case .invoke:
        byOp[e.op] = out.count
        out.append(Operation(invoke: e, completion: nil))
      case .ok, .fail, .unknown:
        if let i = byOp[e.op], out[i].completion == nil { out[i].completion = e }
      case .info: continue
      }
    }
    return out
  }

  /// Fault windows (start, end, label) from the nemesis's `fault` operations; a fault that never
  /// ended runs to the last event.
  public var faultWindows: [FaultWindow] {
    let last = events.last?.time ?? 0
    return operations.filter { $0.kind == .fault }.map {
      FaultWindow(start: $0.start, end: $0.end ?? last, label: $0.invoke.detail ?? "fault")
    }
  }

  /// Operations whose `info` events say they were queued (degraded mode), by op id.
  /// When each queued operation was queued (its first "queued" info event).
  public var queueTimes: [Int: Double] {
    var out: [Int: Double] = [:]
    for e in events where e.type == .info && (e.detail ?? "").contains("queued") && out[e.op] == nil { out[e.op] = e.time }
    return out
  }

  public var queuedOperations: Set<Int> {
    Set(events.filter { $0.type == .info && ($0.detail ?? "").contains("queued") }.map(\.op))
  }
}

/// When a fault was active.
public struct FaultWindow: Sendable, Equatable {
  public var start: Double
  public var end: Double
  public var label: String
  public init(start: Double, end: Double, label: String) {
    self.start = start
    self.end = end
    self.label = label
  }
}
