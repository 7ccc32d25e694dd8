import ArgumentParser
import CairnChaos
import CairnChaosRunner
import CairnCore
import Foundation

/// `cairn chaos …`: run incident scenarios against a real local cluster (docs/chaos.md).
struct ChaosCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "chaos", abstract: "Run fault-injection scenarios against a real local cluster.",
    subcommands: [ChaosRunCommand.self, ChaosListCommand.self])
}

struct ChaosRunCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Start a cluster, run the scenario's workload and faults, check the history, write a report.",
    discussion: """
      Exit status: 0 when every check passed, 1 when a check failed (see DIR/summary.md), other
      values when the run itself could not be done (bad scenario file, cluster did not start).
      FUSE containers, power cuts and full disks need root.
      """)
  @Argument(help: "Scenario file (TOML), e.g. scenarios/may-2026-volumes-outage.toml.") var scenario: String
  @Option(help: "Cluster topology: ha (3 metadata servers, 5 chunk servers, R=3, degraded mode) or spof (1, 3, R=1).")
  var topology: String = "ha"
  @Option(help: "Seed (default: the scenario's).") var seed: UInt64?
  @Option(help: "Report directory (default: chaos-reports/SCENARIO-TOPOLOGY).") var report: String?
  @Flag(help: "Run the scenario's short variant (what make test runs).") var short = false
  @Flag(help: "Keep the cluster's data directories and logs under the report directory.") var keep = false

  func validate() throws {
    guard Topology.named(topology) != nil else { throw ValidationError("--topology must be 'ha' or 'spof'") }
  }

  func run() async throws {
    var passed = false
    try await reporting { () throws(CairnError) in
      guard let topo = Topology.named(topology) else { throw .invalid("unknown topology '\(topology)'") }
      let name = ((scenario as NSString).lastPathComponent as NSString).deletingPathExtension
      let directory = report ?? "chaos-reports/\(name)-\(topology)"
      let options = ChaosRunOptions(
        scenarioPath: scenario, topology: topo, seed: seed, reportDirectory: directory, isShort: short,
        executable: DevCluster.executable(), keepData: keep)
      let start = Date()
      let result = try await ChaosRun.run(options) { line in
        Terminal.note("[\(String(format: "%6.1f", Date().timeIntervalSince(start)))] \(line)")
      }
      for check in result.checks {
        Terminal.out("\(check.isPassed ? "PASS" : "FAIL")  \(check.name): \(check.summary)")
        if !check.isPassed { for e in check.evidence.prefix(3) { Terminal.out("        \(e)") } }
      }
      let failed = result.checks.filter { !$0.isPassed }.count
      Terminal.out(
        "\(result.scenario.name) on \(topo.name): \(failed == 0 ? "PASSED" : "FAILED (\(failed) of \(result.checks.count) checks)"); report in \(directory)/summary.md"
      )
      passed = failed == 0
    }
    if !passed { throw ExitCode(1) }
  }
}

struct ChaosListCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "list", abstract: "List the scenarios in a directory.")
  @Option(help: "Directory of scenario files.") var dir: String = "scenarios"

  func run() async throws {
    try await reporting { () throws(CairnError) in
      guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
        throw CairnError(.notFound, "no scenario directory '\(dir)' (use --dir)")
      }
      var rows: [[String]] = []
      for file in files.filter({ $0.hasSuffix(".toml") }).sorted() {
        let s = try ChaosRun.loadScenario(dir + "/" + file)
        rows.append([
          s.name, CairnChaos.Format.seconds(s.durationSeconds), "\(s.faults.count)",
          s.faults.map(\.kind.rawValue).joined(separator: ", "), String(s.incident.prefix(60)),
        ])
      }
      Terminal.table(["SCENARIO", "LENGTH", "FAULTS", "KINDS", "INCIDENT"], rows)
    }
  }
}
