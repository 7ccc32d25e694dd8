import Foundation

/// The report of one run: `summary.md` and the SVG plot, rendered from the scenario, the history
/// and the check results. Pure: strings out, the runner writes the files.
public struct ChaosReport: Sendable {
  public var scenario: Scenario
  public var topology: Topology
  public var history: History
  public var checks: [CheckResult]
  /// Facts about the run the reader should know (e.g. what the topology really started).
  public var notes: [String]

  public init(scenario: Scenario, topology: Topology, history: History, checks: [CheckResult], notes: [String] = []) {
    self.scenario = scenario
    self.topology = topology
    self.history = history
    self.checks = checks
    self.notes = notes
  }

  public var isPassed: Bool { checks.allSatisfy(\.isPassed) }

  /// `summary.md`.
  public func markdown() -> String {
    var out: [String] = []
    out.append("# Chaos run: \(scenario.name) on \(topology.name) — \(isPassed ? "PASSED" : "FAILED")")
    out.append("")
    if !scenario.incident.isEmpty { out.append("Incident: \(scenario.incident)") }
    if !scenario.summary.isEmpty { out += ["", scenario.summary.trimmingCharacters(in: .whitespacesAndNewlines)] }
    out.append("")
    out.append(
      "Topology `\(topology.name)`: \(topology.metaServers) metadata server(s), \(topology.chunkServers) chunk servers, R=\(topology.replicas), degraded mode \(topology.isDegradedModeOn ? "on" : "off"). Seed \(scenario.seed), \(Format.seconds(scenario.durationSeconds)) of workload."
    )
    for note in notes { out.append("- \(note)") }
    out += ["", "## Faults", "", "| # | fault | start | end |", "|---|---|---|---|"]
    for (i, w) in history.faultWindows.enumerated() {
      out.append("| \(i + 1) | \(w.label) | \(Checkers.t(w.start)) | \(Checkers.t(w.end)) |")
    }
    out += ["", "## Checks", ""]
    for c in checks {
      out.append("- **\(c.isPassed ? "PASS" : "FAIL")** \(c.name): \(c.summary)")
      for e in c.evidence { out.append("  - \(e)") }
    }
    out += ["", "## Operations", "", "| kind | ok | fail | unknown | ok during faults |", "|---|---|---|---|---|"]
    let period = Checkers.faultPeriod(history)
    for kind in OperationKind.workload + [.verify] {
      let all = Checkers.tally(history, kind: kind)
      guard all.total > 0 else { continue }
      let during = kind == .verify ? nil : period.map { Checkers.tally(history, kind: kind, from: $0.start, to: $0.end) }
      let duringText = during.map { "\($0.ok)/\($0.total) (\(Checkers.percent($0.availability)))" } ?? "—"
      out.append("| \(kind.rawValue) | \(all.ok) | \(all.fail) | \(all.unknown) | \(duringText) |")
    }
    out += ["", "## Errors (most frequent)", ""]
    var errors: [String: Int] = [:]
    for op in history.operations where OperationKind.workload.contains(op.kind) && op.outcome != .ok {
      let message = String((op.completion?.error ?? "no answer before the end of the run").prefix(140))
      errors["\(op.kind.rawValue): \(message)", default: 0] += 1
    }
    for (message, count) in errors.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }).prefix(10) {
      out.append("- \(count)× \(message)")
    }
    if errors.isEmpty { out.append("- none") }
    out += ["", "Plot: `ops.svg` (operations per second by kind, errors in red, fault windows shaded).", ""]
    return out.joined(separator: "\n")
  }

  /// Operations per second (ok, by kind) and errors per second, with fault windows shaded.
  public func svg(width: Int = 900, height: Int = 320) -> String {
    let end = max(1, (history.events.last?.time ?? 1).rounded(.up))
    let buckets = Int(end)
    let kinds: [OperationKind] = [.read, .mount, .commit, .reload]
    var ok: [OperationKind: [Int]] = [:]
    var errors = [Int](repeating: 0, count: buckets + 1)
    for kind in kinds { ok[kind] = [Int](repeating: 0, count: buckets + 1) }
    for op in history.operations where kinds.contains(op.kind) {
      let time = op.end ?? op.start
      let b = min(buckets, max(0, Int(time)))
      if op.outcome == .ok { ok[op.kind]?[b] += 1 } else { errors[b] += 1 }
    }
    let peak = max(1, (kinds.flatMap { ok[$0] ?? [] } + errors).max() ?? 1)
    let left = 50.0
    let top = 20.0
    let plotW = Double(width) - left - 130
    let plotH = Double(height) - top - 40
    func x(_ t: Double) -> Double { left + plotW * t / end }
    func y(_ v: Int) -> Double { top + plotH * (1 - Double(v) / Double(peak)) }
    var s: [String] = []
    s.append(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"11\">")
    s.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
    s.append("<text x=\"\(left)\" y=\"14\">\(escape("\(scenario.name) on \(topology.name): operations per second"))</text>")
    for w in history.faultWindows {
      let wx = x(w.start)
      let ww = max(2, x(w.end) - wx)
      s.append(
        "<rect x=\"\(f(wx))\" y=\"\(top)\" width=\"\(f(ww))\" height=\"\(plotH)\" fill=\"#f4c542\" fill-opacity=\"0.25\"><title>\(escape(w.label))</title></rect>"
      )
    }
    s.append("<line x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(left + plotW)\" y2=\"\(top + plotH)\" stroke=\"black\"/>")
    s.append("<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotH)\" stroke=\"black\"/>")
    s.append("<text x=\"\(left - 5)\" y=\"\(top + 4)\" text-anchor=\"end\">\(peak)</text>")
    s.append("<text x=\"\(left - 5)\" y=\"\(top + plotH)\" text-anchor=\"end\">0</text>")
    let step = max(1, buckets / 10)
    for t in stride(from: 0, through: buckets, by: step) {
      s.append("<text x=\"\(f(x(Double(t))))\" y=\"\(top + plotH + 14)\" text-anchor=\"middle\">\(t)s</text>")
    }
    let colors: [OperationKind: String] = [.read: "#1f77b4", .mount: "#2ca02c", .commit: "#9467bd", .reload: "#8c564b"]
    var series: [(String, String, [Int])] = kinds.map { ($0.rawValue + " ok", colors[$0] ?? "gray", ok[$0] ?? []) }
    series.append(("errors", "#d62728", errors))
    for (i, (name, color, values)) in series.enumerated() {
      let points = values.enumerated().map { "\(f(x(Double($0.offset) + 0.5))),\(f(y($0.element)))" }.joined(separator: " ")
      s.append("<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(points)\"/>")
      let ly = top + 12 + Double(i) * 16
      s.append("<line x1=\"\(f(left + plotW + 10))\" y1=\"\(f(ly - 4))\" x2=\"\(f(left + plotW + 28))\" y2=\"\(f(ly - 4))\" stroke=\"\(color)\" stroke-width=\"2\"/>")
      s.append("<text x=\"\(f(left + plotW + 32))\" y=\"\(f(ly))\">\(name)</text>")
    }
    let ly = top + 12 + Double(series.count) * 16
    s.append("<rect x=\"\(f(left + plotW + 10))\" y=\"\(f(ly - 9))\" width=\"18\" height=\"10\" fill=\"#f4c542\" fill-opacity=\"0.4\"/>")
    s.append("<text x=\"\(f(left + plotW + 32))\" y=\"\(f(ly))\">fault active</text>")
    s.append("</svg>")
    return s.joined(separator: "\n") + "\n"
  }

  func f(_ v: Double) -> String { "\((v * 10).rounded() / 10)" }
  func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
      of: ">", with: "&gt;")
  }
}
