/// The outcome of one check, with the evidence a reader needs to believe it.
public struct CheckResult: Sendable, Equatable {
  public var name: String
  public var isPassed: Bool
  /// One line: what was checked and the headline numbers.
  public var summary: String
  /// Violations (at most `Checkers.maxEvidence`) or the facts that support a pass.
  public var evidence: [String]

  public init(name: String, isPassed: Bool, summary: String, evidence: [String] = []) {
    self.name = name
    self.isPassed = isPassed
    self.summary = summary
    self.evidence = evidence
  }
}

/// The safety and liveness checks run on a chaos history. Pure: a history in, results out.
public enum Checkers {
  /// Most violations listed per check (the count is always given).
  public static let maxEvidence = 8

  /// Every check, in report order.
  public static func all(_ history: History, deadlines: Deadlines) -> [CheckResult] {
    [
      ackedCommitsSurvive(history), readsReturnCommittedBytes(history), noCorruptBytesServed(history),
      metadataConsistent(history),
    ] + availability(history, deadlines: deadlines) + [recovery(history, deadlines: deadlines)]
      + (deadlines.maxReadLatencySeconds.map { [readLatency(history, maxSeconds: $0)] } ?? [])
  }

  static func result(_ name: String, violations: [String], summary: String, facts: [String] = []) -> CheckResult {
    let evidence =
      violations.isEmpty
      ? facts : Array(violations.prefix(maxEvidence)) + (violations.count > maxEvidence ? ["… and \(violations.count - maxEvidence) more"] : [])
    return CheckResult(
      name: name, isPassed: violations.isEmpty,
      summary: violations.isEmpty ? summary : "\(violations.count) violation(s); \(summary)", evidence: evidence)
  }

  /// Commits by outcome, with the file each wrote.
  struct CommitRecord {
    var op: Int
    var path: String
    var hash: String
    var version: UInt64?
    var outcome: EventType
    var start: Double
  }

  static func commits(_ history: History) -> [CommitRecord] {
    history.operations.filter { $0.kind == .commit }.compactMap { op in
      guard let path = op.invoke.path, let hash = op.invoke.hash else { return nil }
      return CommitRecord(
        op: op.invoke.op, path: path, hash: hash, version: op.completion?.version, outcome: op.outcome, start: op.start)
    }
  }

  /// No acknowledged commit lost: after recovery each path holds its last acknowledged content (or
  /// that of a later commit whose outcome is unknown), each acknowledged version still holds what
  /// it committed, and no two acknowledged commits got the same version.
  public static func ackedCommitsSurvive(_ history: History) -> CheckResult {
    let all = commits(history)
    let acked = all.filter { $0.outcome == .ok }
    var violations: [String] = []
    var byVersion: [UInt64: CommitRecord] = [:]
    for c in acked {
      guard let v = c.version else {
        violations.append("commit op \(c.op) of \(c.path) was acknowledged without a version")
        continue
      }
      if let other = byVersion[v], other.path != c.path || other.hash != c.hash {
        violations.append("version \(v) acknowledged to two different commits (ops \(other.op) and \(c.op))")
      }
      byVersion[v] = c
    }
    let verifies = history.operations.filter { $0.kind == .verify }
    var headHash: [String: HistoryEvent] = [:]
    var versionHash: [String: HistoryEvent] = [:]
    for v in verifies {
      guard let path = v.invoke.path, let done = v.completion else { continue }
      if let version = v.invoke.version { versionHash["\(path)@\(version)"] = done } else { headHash[path] = done }
    }
    var checkedVersions = 0
    for (path, commitsToPath) in Dictionary(grouping: acked, by: \.path).sorted(by: { $0.key < $1.key }) {
      guard let last = commitsToPath.max(by: { ($0.version ?? 0) < ($1.version ?? 0) }) else { continue }
      let later = all.filter { $0.path == path && $0.outcome == .unknown && $0.start >= last.start }.map(\.hash)
      if let read = headHash[path] {
        if read.type != .ok {
          violations.append("\(path): acknowledged in version \(last.version ?? 0) but unreadable at the head after recovery (\(read.error ?? "no error"))")
        } else if read.hash != last.hash && !later.contains(read.hash ?? "") {
          violations.append(
            "\(path): head holds \(short(read.hash)) but the last acknowledged commit (version \(last.version ?? 0)) wrote \(short(last.hash))")
        }
      } else {
        violations.append("\(path): acknowledged in version \(last.version ?? 0) but never verified after the run")
      }
      for c in commitsToPath {
        guard let v = c.version, let read = versionHash["\(path)@\(v)"] else { continue }
        checkedVersions += 1
        if read.type == .ok && read.hash != c.hash {
          violations.append("\(path)@\(v): holds \(short(read.hash)), commit op \(c.op) wrote \(short(c.hash))")
        } else if read.type != .ok && !(read.detail ?? "").contains("not retained") {
          violations.append("\(path)@\(v): acknowledged version unreadable after recovery (\(read.error ?? ""))")
        }
      }
    }
    return result(
      "no acknowledged commit lost", violations: violations,
      summary: "\(acked.count) acknowledged commits of \(Set(acked.map(\.path)).count) files; \(checkedVersions) versions re-read",
      facts: ["\(headHash.count) files verified at the head after recovery"])
  }

  /// Every successful read returned the bytes of a committed version of the file (the setup's, an
  /// acknowledged commit's, or one whose outcome is unknown) — and, when the read names a version
  /// an acknowledged commit of that file produced, exactly those bytes.
  public static func readsReturnCommittedBytes(_ history: History) -> CheckResult {
    let all = commits(history).filter { $0.outcome != .fail }
    var possible: [String: Set<String>] = [:]
    for c in all { possible[c.path, default: []].insert(c.hash) }
    var ackedAt: [String: [(UInt64, String)]] = [:]
    var hasUnknown: Set<String> = []
    for c in all {
      if c.outcome == .ok, let v = c.version { ackedAt[c.path, default: []].append((v, c.hash)) }
      if c.outcome == .unknown { hasUnknown.insert(c.path) }
    }
    var violations: [String] = []
    var reads = 0
    for op in history.operations where op.kind == .read && op.outcome == .ok {
      guard let path = op.invoke.path, let done = op.completion else { continue }
      reads += 1
      let hash = done.hash ?? ""
      guard possible[path, default: []].contains(hash) else {
        violations.append("\(op.invoke.process) read \(path) at \(t(done.time)): \(short(hash)) is no committed version of it")
        continue
      }
      if let v = done.version, !hasUnknown.contains(path),
        let expected = ackedAt[path]?.filter({ $0.0 <= v }).max(by: { $0.0 < $1.0 }), expected.1 != hash
      {
        violations.append("\(op.invoke.process) read \(path)@\(v): \(short(hash)), version \(expected.0) committed \(short(expected.1))")
      }
    }
    return result("reads return committed bytes", violations: violations, summary: "\(reads) successful reads checked")
  }

  /// No byte that fails its hash reached a reader: every read that knew the expected content got it.
  public static func noCorruptBytesServed(_ history: History) -> CheckResult {
    var violations: [String] = []
    var checked = 0
    var refused = 0
    for op in history.operations where op.kind == .read || op.kind == .verify {
      if op.outcome == .fail, (op.completion?.error ?? "").contains("corrupt") || (op.completion?.error ?? "").contains("hash") {
        refused += 1
      }
      guard op.outcome == .ok, let done = op.completion, let expected = op.invoke.expectedHash ?? done.expectedHash else { continue }
      checked += 1
      if done.hash != expected {
        violations.append(
          "\(op.invoke.process) read \(op.invoke.path ?? "?") at \(t(done.time)): got \(short(done.hash)), expected \(short(expected))")
      }
    }
    return result(
      "no corrupt block served", violations: violations,
      summary: "\(checked) hash-checked reads; \(refused) reads refused corrupt or unverifiable data")
  }

  /// Every metadata server lists the same gap-free versions (same digests) at the end of the run.
  public static func metadataConsistent(_ history: History) -> CheckResult {
    let states = history.operations.filter { $0.kind == .metaState }
    var violations: [String] = []
    var lists: [(String, [UInt64], [String])] = []
    for s in states {
      let server = s.invoke.detail ?? s.invoke.process
      guard s.outcome == .ok, let done = s.completion, let versions = done.versions else {
        violations.append("\(server): versions could not be read after the run (\(s.completion?.error ?? "no answer"))")
        continue
      }
      for (a, b) in zip(versions, versions.dropFirst()) where b != a + 1 {
        violations.append("\(server): versions jump from \(a) to \(b)")
      }
      lists.append((server, versions, done.versionDigests ?? []))
    }
    if let first = lists.first {
      for other in lists.dropFirst() where other.1 != first.1 || other.2 != first.2 {
        let diff = zip(other.2, first.2).enumerated().first { $0.element.0 != $0.element.1 }
        violations.append(
          "\(other.0) differs from \(first.0): versions \(range(other.1)) vs \(range(first.1))"
            + (diff.map { " (first differing version \(other.1[$0.offset]))" } ?? ""))
      }
    }
    if states.isEmpty { violations.append("no metadata server state was recorded") }
    let acked = commits(history).filter { $0.outcome == .ok }.compactMap(\.version)
    if let head = lists.first?.1.last, let maxAcked = acked.max(), maxAcked > head {
      violations.append("version \(maxAcked) was acknowledged but the servers' head is \(head)")
    }
    return result(
      "versions gap-free and identical on all metadata servers", violations: violations,
      summary: "\(lists.count) server(s); versions \(lists.first.map { range($0.1) } ?? "none")")
  }

  static func range(_ versions: [UInt64]) -> String {
    guard let a = versions.first, let b = versions.last else { return "none" }
    return "\(a)…\(b)"
  }

  static func short(_ hash: String?) -> String { hash.map { String($0.prefix(12)) } ?? "nothing" }
  static func t(_ time: Double) -> String { "\((time * 10).rounded() / 10) s" }
}
