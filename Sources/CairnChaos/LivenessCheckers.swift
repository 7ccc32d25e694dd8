/// Availability, recovery and latency: the checks that compare a run with the scenario's deadlines.
extension Checkers {
  /// The span the faults covered (first start to last end); nil without faults.
  static func faultPeriod(_ history: History) -> (start: Double, end: Double)? {
    let windows = history.faultWindows
    guard let start = windows.map(\.start).min(), let end = windows.map(\.end).max() else { return nil }
    return (start, end)
  }

  /// Counts of outcomes per kind; a queued commit (degraded mode) counts as accepted.
  public struct Tally: Sendable, Equatable {
    public var ok = 0
    /// Succeeded (or queued) only after the slow-operation bound, when one was given.
    public var slow = 0
    public var fail = 0
    public var unknown = 0
    public var total: Int { ok + slow + fail + unknown }
    public var availability: Double { total == 0 ? 1 : Double(ok) / Double(total) }
    public init() {}
  }

  /// Outcomes of operations of `kind` invoked in `[from, to]`. With `slowAfter`, a success
  /// that took longer (a queued commit: until it was queued) is counted as `slow`, not `ok`.
  public static func tally(
    _ history: History, kind: OperationKind, from: Double = -.infinity, to: Double = .infinity, slowAfter: Double? = nil
  ) -> Tally {
    let queued = history.queueTimes
    var t = Tally()
    for op in history.operations where op.kind == kind && op.start >= from && op.start <= to {
      if let queuedAt = queued[op.invoke.op], op.outcome != .fail {
        if let slowAfter, queuedAt - op.start > slowAfter { t.slow += 1 } else { t.ok += 1 }
        continue
      }
      switch op.outcome {
      case .ok:
        if let slowAfter, let end = op.end, end - op.start > slowAfter { t.slow += 1 } else { t.ok += 1 }
      case .fail: t.fail += 1
      default: t.unknown += 1
      }
    }
    return t
  }

  /// One result per kind with a deadline: the fraction of operations invoked during the fault
  /// period that succeeded, and the longest stretch with operations wanted and none succeeding.
  public static func availability(_ history: History, deadlines: Deadlines) -> [CheckResult] {
    let kinds = Set(deadlines.minAvailability.keys).union(deadlines.maxUnavailableSeconds.keys).sorted()
    let period = faultPeriod(history)
    return kinds.map { kind in
      var violations: [String] = []
      let bound = deadlines.slowBound(kind)
      let t = tally(history, kind: kind, from: period?.start ?? -.infinity, to: period?.end ?? .infinity, slowAfter: bound)
      var summary = "\(kind.rawValue): \(t.ok)/\(t.total) ok during the faults (\(percent(t.availability)))"
      if t.slow > 0 { summary += ", \(t.slow) more succeeded only after over \(Format.seconds(bound)) (counted as unavailable)" }
      if let minimum = deadlines.minAvailability[kind], t.availability < minimum {
        violations.append("\(kind.rawValue) availability \(percent(t.availability)) is below the deadline \(percent(minimum))")
      }
      let gap = longestOutage(history, kind: kind)
      summary += "; longest outage \(Format.seconds(gap.seconds))"
      if let maximum = deadlines.maxUnavailableSeconds[kind], gap.seconds > maximum {
        violations.append(
          "no \(kind.rawValue) succeeded from \(Checkers.t(gap.from)) to \(Checkers.t(gap.from + gap.seconds)) (\(Format.seconds(gap.seconds)), deadline \(Format.seconds(maximum)))")
      }
      return result("availability of \(kind.rawValue)", violations: violations, summary: summary)
    }
  }

  /// The longest time during which operations of `kind` were wanted but none succeeded: between
  /// two successes (or a success and the end), counted from the first invoke that followed the
  /// earlier success and did not itself succeed before the later one.
  public static func longestOutage(_ history: History, kind: OperationKind) -> (from: Double, seconds: Double) {
    let ops = history.operations.filter { $0.kind == kind }
    let queued = history.queueTimes
    // A queued commit is accepted when it is queued: use the queue time as its success.
    var successes: [Double] = []
    for op in ops {
      if op.outcome == .ok, let end = op.end { successes.append(queued[op.invoke.op] ?? end) }
    }
    successes.sort()
    let endOfRun = history.events.last?.time ?? 0
    var best: (from: Double, seconds: Double) = (0, 0)
    var previous = -Double.infinity
    for next in successes + [endOfRun] {
      // The first invoke after `previous` that was still waiting at `next`.
      let waiting = ops.filter { $0.start > previous && $0.start < next && !(($0.outcome == .ok) && ($0.end ?? .infinity) <= next) }
      if let first = waiting.map(\.start).min(), next - first > best.seconds {
        // Only count the stretch to the end of the run when something failed in it.
        if next != endOfRun || waiting.contains(where: { $0.outcome != .ok }) { best = (first, next - first) }
      }
      previous = max(previous, next)
    }
    return best
  }

  /// After the last fault ends, each kind succeeds again within the deadline, and every commit
  /// queued in degraded mode is applied within it.
  public static func recovery(_ history: History, deadlines: Deadlines) -> CheckResult {
    guard let period = faultPeriod(history) else {
      return CheckResult(name: "time to recover", isPassed: true, summary: "no faults injected")
    }
    let healed = period.end
    var violations: [String] = []
    var facts: [String] = []
    let ops = history.operations
    for kind in OperationKind.workload {
      let after = ops.filter { $0.kind == kind && $0.start >= healed }
      guard !after.isEmpty else { continue }
      if let first = after.filter({ $0.outcome == .ok }).compactMap(\.end).min() {
        let seconds = first - healed
        facts.append("\(kind.rawValue): first success \(Format.seconds(seconds)) after the last fault ended")
        if seconds > deadlines.recoverWithinSeconds {
          violations.append("\(kind.rawValue) took \(Format.seconds(seconds)) to recover (deadline \(Format.seconds(deadlines.recoverWithinSeconds)))")
        }
      } else {
        violations.append("\(kind.rawValue): none of \(after.count) operations succeeded after the last fault ended at \(t(healed))")
      }
    }
    let queued = history.queuedOperations
    for op in ops where queued.contains(op.invoke.op) {
      guard op.outcome == .ok, let end = op.end else {
        violations.append("queued \(op.kind.rawValue) op \(op.invoke.op) (\(op.invoke.path ?? "")) was never applied")
        continue
      }
      if end - healed > deadlines.recoverWithinSeconds {
        violations.append("queued commit op \(op.invoke.op) applied \(Format.seconds(end - healed)) after the faults ended")
      }
    }
    if !queued.isEmpty { facts.append("\(queued.count) commit(s) queued in degraded mode") }
    return result(
      "time to recover", violations: violations,
      summary: "faults ended at \(t(healed)); deadline \(Format.seconds(deadlines.recoverWithinSeconds))", facts: facts)
  }

  /// The 99th percentile of successful read latency stays under `maxSeconds`.
  public static func readLatency(_ history: History, maxSeconds: Double) -> CheckResult {
    // A plain loop: the `compactMap { op.end.map { … } }` form crashed the 6.3.1 optimizer
    // (release builds only, "Found outside of lifetime use").
    var latencies: [Double] = []
    for op in history.operations where op.kind == .read {
      guard let completion = op.completion, completion.type == .ok else { continue }
      latencies.append(completion.time - op.invoke.time)
    }
    latencies.sort()
    guard !latencies.isEmpty else {
      return CheckResult(name: "read latency", isPassed: false, summary: "no successful read to measure")
    }
    let p99 = latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
    let summary = "p99 \(ms(p99)), max \(ms(latencies.last ?? 0)) over \(latencies.count) reads (deadline \(ms(maxSeconds)))"
    return result(
      "read latency", violations: p99 > maxSeconds ? ["p99 read latency \(ms(p99)) exceeds \(ms(maxSeconds))"] : [],
      summary: summary)
  }

  static func percent(_ x: Double) -> String { "\((x * 1000).rounded() / 10) %" }
  static func ms(_ seconds: Double) -> String { "\(Int((seconds * 1000).rounded())) ms" }
}
