import CairnChaos
import CairnCore
import Foundation

/// What `cairn chaos run` was asked to do.
public struct ChaosRunOptions: Sendable {
  public var scenarioPath: String
  public var topology: Topology
  public var seed: UInt64?
  /// Where summary.md, history.jsonl and ops.svg go.
  public var reportDirectory: String
  /// Run the scenario's short variant (`short_duration_seconds`).
  public var isShort: Bool
  /// The `cairn` executable to start servers and mounts with.
  public var executable: String
  /// Keep the cluster's data directories and logs (under the report directory) after the run.
  public var keepData: Bool

  public init(
    scenarioPath: String, topology: Topology, seed: UInt64?, reportDirectory: String, isShort: Bool, executable: String,
    keepData: Bool = false
  ) {
    self.scenarioPath = scenarioPath
    self.topology = topology
    self.seed = seed
    self.reportDirectory = reportDirectory
    self.isShort = isShort
    self.executable = executable
    self.keepData = keepData
  }
}

/// One chaos run: cluster up, workload and faults on schedule, faults healed, verification,
/// checks, report; everything it started is stopped, unmounted and removed at the end.
public enum ChaosRun {
  /// Loads a scenario file with errors that name it.
  public static func loadScenario(_ path: String) throws(CairnError) -> Scenario {
    let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw CairnError(.notFound, "cannot read scenario file '\(path)'")
    }
    do throws(ScenarioError) {
      return try ScenarioParser.parse(text, name: name)
    } catch {
      throw CairnError(.invalidArgument, error.message)
    }
  }

  public static func run(_ options: ChaosRunOptions, progress: @escaping @Sendable (String) -> Void) async throws(CairnError)
    -> ChaosReport
  {
    var options = options
    // Absolute: mountpoints are compared with /proc/self/mountinfo when they are cleaned up.
    options.reportDirectory = URL(fileURLWithPath: options.reportDirectory).standardizedFileURL.path
    let signalSources = cleanUpOnSignals(reportDirectory: options.reportDirectory)
    defer { for s in signalSources { s.cancel() } }
    var scenario = try loadScenario(options.scenarioPath)
    if let seed = options.seed { scenario.seed = seed }
    if options.isShort { scenario = scenario.scaled(toDuration: scenario.shortDurationSeconds) }
    let topology = options.topology
    var notes: [String] = []
    let raft = hasRaft(options.executable)
    let metaServers = raft ? topology.metaServers : 1
    if metaServers != topology.metaServers {
      notes.append("this build has no Raft metadata group: the run used 1 metadata server instead of \(topology.metaServers)")
    }
    if options.isShort {
      notes.append(
        "short variant: fault and storm start times scaled to a \(Format.seconds(scenario.durationSeconds)) run; fault lengths and deadlines as in the file")
    }
    try makeDirectory(options.reportDirectory)
    let work = options.reportDirectory + "/cluster"
    try? FileManager.default.removeItem(atPath: work)
    try makeDirectory(work)
    let kinds = Set(scenario.faults.map(\.kind))
    let cluster = ChaosCluster(
      directory: work, executable: options.executable, topology: topology, metaServers: metaServers, seed: scenario.seed,
      needsOwnDisks: kinds.contains(.powerCut) || kinds.contains(.diskFull), needsFakeTime: kinds.contains(.clockSkew))
    progress(
      "scenario \(scenario.name) on \(topology.name): \(metaServers) metadata, \(topology.chunkServers) chunk servers, R=\(topology.replicas), seed \(scenario.seed), \(Format.seconds(scenario.durationSeconds))"
    )
    var workload: Workload?
    do throws(CairnError) {
      try await cluster.start(raft: raft && metaServers > 1, log: progress)
      let recorder = HistoryRecorder(path: options.reportDirectory + "/history.jsonl")
      let w = try Workload(
        scenario: scenario, topology: topology, cluster: cluster, recorder: recorder, directory: work + "/workload",
        log: progress)
      workload = w
      try makeDirectory(work + "/workload/mounts")
      try makeDirectory(work + "/workload/fuse")
      try await w.setup()
      progress("volume '\(scenario.workload.volume)' ready; workload and faults start")
      let injector = FaultInjector(cluster: cluster, recorder: recorder, scenario: scenario, log: progress)
      let steps = FaultSchedule.steps(for: scenario, topology: topology)
      let nemesis = Task {
        for step in steps {
          let wait = step.time - recorder.now()
          if wait > 0 { try? await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
          await injector.execute(step)
        }
      }
      let ticker = Task {
        while !Task.isCancelled {
          try? await Task.sleep(for: .seconds(5))
          let h = recorder.history
          let since = recorder.now() - 5
          let parts = [OperationKind.read, .mount, .commit].map { kind -> String in
            let done = h.operations.filter { $0.kind == kind && ($0.end ?? -1) >= since }
            let failed = done.filter { $0.outcome != .ok }.count
            return "\(kind.rawValue)s \(done.count - failed) ok \(failed) failed"
          }
          progress("t=\(Int(recorder.now())) s, last 5 s: " + parts.joined(separator: ", "))
        }
      }
      await w.run(untilSeconds: scenario.durationSeconds)
      await nemesis.value
      ticker.cancel()
      injector.releaseAll()
      // Anything a fault left down comes back for the verification.
      for node in cluster.nodes.values where !node.process.isAlive {
        progress("restarting \(node.name) for verification")
        try? node.disk?.restorePower()
        try? node.process.start()
      }
      w.fuse.releaseAll()
      progress("workload stopped; verifying")
      await Verifier(cluster: cluster, recorder: recorder, volume: w.volume, log: progress).run(
        waitSeconds: scenario.deadlines.recoverWithinSeconds + 30)
      recorder.close()
      let history = recorder.history
      let checks = Checkers.all(history, deadlines: scenario.deadlines)
      let report = ChaosReport(scenario: scenario, topology: topology, history: history, checks: checks, notes: notes)
      try writeFile(options.reportDirectory + "/summary.md", report.markdown())
      try writeFile(options.reportDirectory + "/ops.svg", report.svg())
      await w.client.close()
      await cluster.shutdown()
      if !options.keepData { try? FileManager.default.removeItem(atPath: work) }
      return report
    } catch {
      workload?.stop()
      workload?.fuse.releaseAll()
      await cluster.shutdown()
      if !options.keepData { try? FileManager.default.removeItem(atPath: work) }
      throw error
    }
  }

  /// On SIGINT or SIGTERM: kill every process the run started, unmount its FUSE mounts and
  /// loop filesystems under the report directory, and exit 130.
  static func cleanUpOnSignals(reportDirectory: String) -> [any DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { sig in
      signal(sig, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
      source.setEventHandler {
        ChaosProcess.registry.killAll()
        let mounts = ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").split(separator: "\n")
          .compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count > 4 && fields[4].hasPrefix(reportDirectory) ? String(fields[4]) : nil
          }
        for m in mounts.sorted(by: >) { ChaosProcess.run("/usr/bin/umount", ["-l", m], timeoutSeconds: 10) }
        exit(130)
      }
      source.resume()
      return source
    }
  }

  /// Whether `cairn meta serve` takes `--peers` (a Raft build).
  static func hasRaft(_ executable: String) -> Bool {
    ChaosProcess.run(executable, ["meta", "serve", "--help"], timeoutSeconds: 20).output.contains("--peers")
  }
}
