import TOMLKit

/// Parses scenario TOML. Every problem is reported with the scenario's name and the key:
/// unknown keys, wrong types, out-of-range values, faults past the end of the run.
public enum ScenarioParser {
  /// Parses `text`; `name` (the file name without `.toml`) is used when the file has no `name`.
  public static func parse(_ text: String, name: String) throws(ScenarioError) -> Scenario {
    let root: TOMLTable
    do {
      root = try TOMLTable(string: text)
    } catch let error as TOMLParseError {
      throw ScenarioError(
        "scenario '\(name)': line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
    } catch {
      throw ScenarioError("scenario '\(name)': \(error)")
    }
    let top = TableReader(root, context: "scenario '\(name)'")
    try top.allow([
      "name", "incident", "summary", "seed", "duration_seconds", "short_duration_seconds", "workload", "fault",
      "deadlines",
    ])
    var scenario = Scenario(name: try top.string("name") ?? name)
    scenario.incident = try top.string("incident") ?? ""
    scenario.summary = try top.string("summary") ?? ""
    if let seed = try top.int("seed", in: 0...Int.max) { scenario.seed = UInt64(seed) }
    scenario.durationSeconds = try top.double("duration_seconds", in: 1...3600) ?? 60
    scenario.shortDurationSeconds = try top.double("short_duration_seconds", in: 1...3600) ?? min(30, scenario.durationSeconds)
    if let table = try top.table("workload") { scenario.workload = try parseWorkload(table, context: top.context) }
    for (i, table) in try top.tables("fault").enumerated() {
      scenario.faults.append(try parseFault(table, context: "\(top.context) [[fault]] #\(i + 1)"))
    }
    if let table = try top.table("deadlines") { scenario.deadlines = try parseDeadlines(table, context: top.context) }
    for (i, fault) in scenario.faults.enumerated() where fault.atSeconds >= scenario.durationSeconds {
      throw ScenarioError(
        "\(top.context) [[fault]] #\(i + 1): 'at' = \(fault.atSeconds) is not before the end of the run (duration_seconds = \(scenario.durationSeconds))"
      )
    }
    return scenario
  }

  static func parseWorkload(_ table: TOMLTable, context: String) throws(ScenarioError) -> WorkloadSpec {
    let r = TableReader(table, context: context + " [workload]")
    try r.allow([
      "volume", "containers_per_second", "concurrency", "running_containers", "fuse_containers", "model_bytes",
      "checkpoint_bytes", "reads_per_container", "commit_every_seconds", "storm",
    ])
    var w = WorkloadSpec()
    w.volume = try r.string("volume") ?? w.volume
    w.containersPerSecond = try r.double("containers_per_second", in: 0...1000) ?? w.containersPerSecond
    w.concurrency = try r.int("concurrency", in: 1...1000) ?? w.concurrency
    w.runningContainers = try r.int("running_containers", in: 0...1000) ?? w.runningContainers
    w.fuseContainers = try r.int("fuse_containers", in: 0...16) ?? w.fuseContainers
    w.modelBytes = try r.int("model_bytes", in: 1...(1 << 30)) ?? w.modelBytes
    w.checkpointBytes = try r.int("checkpoint_bytes", in: 1...(1 << 30)) ?? w.checkpointBytes
    w.readsPerContainer = try r.int("reads_per_container", in: 0...1000) ?? w.readsPerContainer
    w.commitEverySeconds = try r.double("commit_every_seconds", in: 0.1...3600) ?? w.commitEverySeconds
    for (i, t) in try r.tables("storm").enumerated() {
      let s = TableReader(t, context: r.context + " [[workload.storm]] #\(i + 1)")
      try s.allow(["at", "mounts", "fuse_mounts"])
      guard let at = try s.double("at", in: 0...3600) else { throw ScenarioError("\(s.context): 'at' is required") }
      w.storms.append(
        MountStorm(
          atSeconds: at, mounts: try s.int("mounts", in: 0...5000) ?? 100, fuseMounts: try s.int("fuse_mounts", in: 0...16) ?? 0))
    }
    return w
  }

  static func parseFault(_ table: TOMLTable, context: String) throws(ScenarioError) -> FaultSpec {
    let r = TableReader(table, context: context)
    try r.allow([
      "kind", "at", "target", "duration", "peers", "one_way", "restart_after", "count", "interval", "up_seconds",
      "delay_ms", "loss_probability", "offset_seconds", "stall_fraction", "bad",
    ])
    guard let kindText = try r.string("kind") else { throw ScenarioError("\(context): 'kind' is required") }
    guard let kind = FaultKind(rawValue: kindText) else {
      throw ScenarioError(
        "\(context): unknown fault kind '\(kindText)' (known: \(FaultKind.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    guard let at = try r.double("at", in: 0...3600) else { throw ScenarioError("\(context): 'at' is required") }
    guard let targetText = try r.string("target") else { throw ScenarioError("\(context): 'target' is required") }
    var f = FaultSpec(kind: kind, atSeconds: at, target: try selector(targetText, context: context))
    f.durationSeconds = try r.double("duration", in: 0.1...3600)
    if let p = try r.string("peers") { f.peers = try selector(p, context: context) }
    f.oneWay = try r.bool("one_way") ?? false
    f.restartAfterSeconds = try r.double("restart_after", in: 0...3600)
    f.count = try r.int("count", in: 1...1000) ?? f.count
    f.intervalSeconds = try r.double("interval", in: 0.1...3600) ?? f.intervalSeconds
    f.upSeconds = try r.double("up_seconds", in: 0.1...3600) ?? f.upSeconds
    f.delayMilliseconds = try r.int("delay_ms", in: 0...60_000) ?? 0
    f.lossProbability = try r.double("loss_probability", in: 0...1) ?? 0
    f.offsetSeconds = try r.double("offset_seconds", in: -365 * 86400...365 * 86400) ?? 0
    f.stallFraction = try r.double("stall_fraction", in: 0...0.99) ?? f.stallFraction
    if let b = try r.string("bad") { f.bad = try selector(b, context: context) }
    try validate(f, context: context)
    return f
  }

  static func validate(_ f: FaultSpec, context: String) throws(ScenarioError) {
    let needsDuration: Set<FaultKind> = [.pause, .partition, .delay, .loss, .diskFull, .slowDisk, .clockSkew]
    if needsDuration.contains(f.kind) && f.durationSeconds == nil {
      throw ScenarioError("\(context): a '\(f.kind.rawValue)' fault needs 'duration'")
    }
    if [.partition, .delay, .loss].contains(f.kind) && f.peers == nil {
      throw ScenarioError("\(context): a '\(f.kind.rawValue)' fault needs 'peers' (the other side of the link)")
    }
    if f.kind == .delay && f.delayMilliseconds <= 0 { throw ScenarioError("\(context): a 'delay' fault needs 'delay_ms' > 0") }
    if f.kind == .loss && f.lossProbability <= 0 {
      throw ScenarioError("\(context): a 'loss' fault needs 'loss_probability' > 0")
    }
    if f.kind == .clockSkew && f.offsetSeconds == 0 {
      throw ScenarioError("\(context): a 'clock-skew' fault needs a non-zero 'offset_seconds'")
    }
    if f.oneWay && f.kind != .partition { throw ScenarioError("\(context): 'one_way' only applies to partitions") }
    if [.corrupt, .deleteBlocks, .diskFull].contains(f.kind) && f.target.isMeta {
      throw ScenarioError("\(context): '\(f.kind.rawValue)' targets chunk servers, not '\(f.target)'")
    }
    if f.kind == .rollingRestart, f.target != .metaAll && f.target != .chunkAll {
      throw ScenarioError("\(context): a rolling restart targets 'meta-all' or 'chunk-all', not '\(f.target)'")
    }
    if f.target == .rest { throw ScenarioError("\(context): 'rest' can only be used as 'peers'") }
  }

  static func selector(_ text: String, context: String) throws(ScenarioError) -> NodeSelector {
    do throws(ScenarioError) {
      return try NodeSelector(parsing: text)
    } catch {
      throw ScenarioError("\(context): \(error.message)")
    }
  }

  static func parseDeadlines(_ table: TOMLTable, context: String) throws(ScenarioError) -> Deadlines {
    let r = TableReader(table, context: context + " [deadlines]")
    try r.allow(["min_availability", "max_unavailable_seconds", "recover_within_seconds", "max_read_latency_seconds", "slow_operation_seconds",
      "slow_operation_seconds_per_kind",
    ])
    var d = Deadlines()
    d.minAvailability = try kindMap(r, "min_availability", range: 0...1)
    d.maxUnavailableSeconds = try kindMap(r, "max_unavailable_seconds", range: 0...3600)
    d.recoverWithinSeconds = try r.double("recover_within_seconds", in: 0...3600) ?? d.recoverWithinSeconds
    d.maxReadLatencySeconds = try r.double("max_read_latency_seconds", in: 0.001...3600)
    d.slowOperationSeconds = try r.double("slow_operation_seconds", in: 0.001...3600) ?? d.slowOperationSeconds
    d.slowOperationSecondsPerKind = try kindMap(r, "slow_operation_seconds_per_kind", range: 0.001...3600)
    return d
  }

  static func kindMap(_ r: TableReader, _ key: String, range: ClosedRange<Double>) throws(ScenarioError)
    -> [OperationKind: Double]
  {
    guard let table = try r.table(key) else { return [:] }
    let inner = TableReader(table, context: r.context + " \(key)")
    let kinds = OperationKind.workload.map(\.rawValue)
    try inner.allow(kinds)
    var out: [OperationKind: Double] = [:]
    for k in kinds {
      if let v = try inner.double(k, in: range), let kind = OperationKind(rawValue: k) { out[kind] = v }
    }
    return out
  }
}

/// Reads typed values out of one TOML table, naming the key in every error.
struct TableReader {
  let table: TOMLTable
  let context: String

  init(_ table: TOMLTable, context: String) {
    self.table = table
    self.context = context
  }

  func allow(_ keys: [String]) throws(ScenarioError) {
    for key in table.keys.sorted() where !keys.contains(key) {
      throw ScenarioError("\(context): unknown key '\(key)' (known: \(keys.joined(separator: ", ")))")
    }
  }

  func string(_ key: String) throws(ScenarioError) -> String? {
    guard let v = table[key] else { return nil }
    guard let s = v.string else { throw wrongType(key, "a string") }
    return s
  }

  func bool(_ key: String) throws(ScenarioError) -> Bool? {
    guard let v = table[key] else { return nil }
    guard let b = v.bool else { throw wrongType(key, "true or false") }
    return b
  }

  func int(_ key: String, in range: ClosedRange<Int>) throws(ScenarioError) -> Int? {
    guard let v = table[key] else { return nil }
    guard let i = v.int else { throw wrongType(key, "an integer") }
    guard range.contains(i) else { throw outOfRange(key, "\(i)", "\(range.lowerBound)…\(range.upperBound)") }
    return i
  }

  func double(_ key: String, in range: ClosedRange<Double>) throws(ScenarioError) -> Double? {
    guard let v = table[key] else { return nil }
    guard let d = v.double ?? v.int.map(Double.init) else { throw wrongType(key, "a number") }
    guard range.contains(d) else { throw outOfRange(key, "\(d)", "\(range.lowerBound)…\(range.upperBound)") }
    return d
  }

  func table(_ key: String) throws(ScenarioError) -> TOMLTable? {
    guard let v = table[key] else { return nil }
    guard let t = v.table else { throw wrongType(key, "a table") }
    return t
  }

  /// An array of tables (`[[key]]`); empty when absent.
  func tables(_ key: String) throws(ScenarioError) -> [TOMLTable] {
    guard let v = table[key] else { return [] }
    guard let array = v.array else { throw wrongType(key, "an array of tables ([[\(key)]])") }
    var out: [TOMLTable] = []
    for item in array {
      guard let t = item.table else { throw wrongType(key, "an array of tables ([[\(key)]])") }
      out.append(t)
    }
    return out
  }

  func wrongType(_ key: String, _ expected: String) -> ScenarioError {
    ScenarioError("\(context): '\(key)' must be \(expected)")
  }

  func outOfRange(_ key: String, _ value: String, _ range: String) -> ScenarioError {
    ScenarioError("\(context): '\(key)' = \(value) is out of range (\(range))")
  }
}
