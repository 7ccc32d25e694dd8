import CairnChaos
import CairnCore
import Foundation
import XCTest

final class ScenarioParserTests: XCTestCase {
  let full = """
    incident = "2026-05-20 volumes outage"
    summary = "leader killed"
    seed = 42
    duration_seconds = 60
    short_duration_seconds = 20

    [workload]
    containers_per_second = 5
    fuse_containers = 2

    [[workload.storm]]
    at = 10
    mounts = 300
    fuse_mounts = 3

    [[fault]]
    kind = "kill"
    at = 8
    target = "meta-leader"
    restart_after = 4

    [[fault]]
    kind = "partition"
    at = 20
    duration = 6
    target = "meta-1"
    peers = "rest"
    one_way = true

    [deadlines]
    min_availability = { read = 0.99, commit = 0.5 }
    max_unavailable_seconds = { mount = 10 }
    recover_within_seconds = 15
    slow_operation_seconds = 4
    slow_operation_seconds_per_kind = { mount = 12 }
    """

  func testParsesEverySection() throws {
    let s = try ScenarioParser.parse(full, name: "may")
    XCTAssertEqual(s.name, "may")
    XCTAssertEqual(s.seed, 42)
    XCTAssertEqual(s.workload.containersPerSecond, 5)
    XCTAssertEqual(s.workload.storms, [MountStorm(atSeconds: 10, mounts: 300, fuseMounts: 3)])
    XCTAssertEqual(s.faults.count, 2)
    XCTAssertEqual(s.faults[0].target, .metaLeader)
    XCTAssertEqual(s.faults[0].restartAfterSeconds, 4)
    XCTAssertEqual(s.faults[1].peers, .rest)
    XCTAssertTrue(s.faults[1].oneWay)
    XCTAssertEqual(s.deadlines.minAvailability[.read], 0.99)
    XCTAssertEqual(s.deadlines.maxUnavailableSeconds[.mount], 10)
    XCTAssertEqual(s.deadlines.recoverWithinSeconds, 15)
    XCTAssertEqual(s.deadlines.slowOperationSeconds, 4)
    XCTAssertEqual(s.deadlines.slowBound(.mount), 12)
    XCTAssertEqual(s.deadlines.slowBound(.read), 4)
    XCTAssertEqual(Deadlines().slowOperationSeconds, 5, "the default bound")
  }

  func testShortVariantScalesStartTimesButNotFaultLengthsOrDeadlines() throws {
    let s = try ScenarioParser.parse(full, name: "may").scaled(toDuration: 30)
    XCTAssertEqual(s.faults[0].atSeconds, 4)
    XCTAssertEqual(s.faults[0].restartAfterSeconds, 4)
    XCTAssertEqual(s.faults[1].atSeconds, 10)
    XCTAssertEqual(s.faults[1].durationSeconds, 6)
    XCTAssertEqual(s.workload.storms[0].atSeconds, 5)
    XCTAssertEqual(s.deadlines.recoverWithinSeconds, 15)
    XCTAssertEqual(s.durationSeconds, 30)
    // A run too short for its faults is stretched to end 5 s after the last step.
    XCTAssertEqual(try ScenarioParser.parse(full, name: "may").scaled(toDuration: 10).durationSeconds, 20.0 / 6 + 6 + 5, accuracy: 0.001)
  }

  func assertRejects(_ text: String, mentioning needle: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try ScenarioParser.parse(text, name: "bad"), file: file, line: line) { error in
      let message = "\(error)"
      XCTAssertTrue(message.contains(needle), "'\(message)' does not mention '\(needle)'", file: file, line: line)
      XCTAssertTrue(message.contains("scenario 'bad'"), "'\(message)' does not name the scenario", file: file, line: line)
    }
  }

  func testBadFilesGetErrorsNamingTheProblem() {
    assertRejects("seed = ", mentioning: "line 1")
    assertRejects("sede = 1", mentioning: "unknown key 'sede'")
    assertRejects("seed = \"x\"", mentioning: "'seed' must be an integer")
    assertRejects("duration_seconds = -4", mentioning: "out of range")
    assertRejects("[[fault]]\nat = 1\ntarget = \"meta-1\"", mentioning: "'kind' is required")
    assertRejects("[[fault]]\nkind = \"explode\"\nat = 1\ntarget = \"meta-1\"", mentioning: "unknown fault kind 'explode'")
    assertRejects("[[fault]]\nkind = \"kill\"\nat = 1\ntarget = \"mata-1\"", mentioning: "unknown node 'mata-1'")
    assertRejects("[[fault]]\nkind = \"pause\"\nat = 1\ntarget = \"meta-1\"", mentioning: "needs 'duration'")
    assertRejects(
      "[[fault]]\nkind = \"partition\"\nat = 1\nduration = 2\ntarget = \"meta-1\"", mentioning: "needs 'peers'")
    assertRejects("[[fault]]\nkind = \"corrupt\"\nat = 1\ntarget = \"meta-1\"", mentioning: "targets chunk servers")
    assertRejects(
      "duration_seconds = 10\n[[fault]]\nkind = \"kill\"\nat = 11\ntarget = \"meta-1\"", mentioning: "not before the end")
    assertRejects("[deadlines]\nmin_availability = { reads = 1 }", mentioning: "unknown key 'reads'")
    assertRejects("[deadlines]\nmin_availability = { read = 2 }", mentioning: "out of range")
    assertRejects("[[fault]]\nkind = \"kill\"\nat = 1\ntarget = \"meta-1\"\nfoo = 1", mentioning: "[[fault]] #1: unknown key 'foo'")
  }

  func testEveryScenarioFileInTheRepositoryParses() throws {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("scenarios")
    let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".toml") }
    XCTAssertGreaterThanOrEqual(files.count, 5)
    for file in files {
      let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
      let s = try ScenarioParser.parse(text, name: String(file.dropLast(5)))
      XCTAssertFalse(s.incident.isEmpty, "\(file) has no incident header")
      XCTAssertFalse(s.faults.isEmpty, "\(file) injects no fault")
      XCTAssertFalse(s.deadlines.minAvailability.isEmpty, "\(file) sets no availability deadline")
    }
  }
}

final class FaultScheduleTests: XCTestCase {
  func testCrashLoopRestartsThenRollsBack() {
    var f = FaultSpec(kind: .crashLoop, atSeconds: 10, target: .meta(2))
    f.count = 2
    f.intervalSeconds = 1
    f.upSeconds = 0.5
    let steps = FaultSchedule.steps(for: Scenario(name: "x", faults: [f]), topology: .ha)
    XCTAssertEqual(steps.map(\.action), [.kill, .start, .kill, .start, .kill, .start])
    XCTAssertEqual(steps.map(\.time), [10, 11, 11.5, 12.5, 13, 14])
    XCTAssertTrue(steps.first?.opensWindow == true && steps.last?.closesWindow == true)
  }

  func testRollingRestartWithBadBuildShiftsTheRest() {
    var f = FaultSpec(kind: .rollingRestart, atSeconds: 0, target: .metaAll)
    f.bad = .meta(2)
    f.count = 1
    f.intervalSeconds = 2
    f.upSeconds = 1
    let steps = FaultSchedule.steps(for: Scenario(name: "x", faults: [f]), topology: .ha)
    XCTAssertEqual(steps.map(\.target), [.meta(1), .meta(2), .meta(2), .meta(2), .meta(2), .meta(3)])
    XCTAssertEqual(steps.map(\.action), [.restart, .kill, .start, .kill, .start, .restart])
    XCTAssertEqual(steps.last?.time, 9)
  }

  func testBadBuildPastTheLastMemberLandsOnTheLastOne() {
    var f = FaultSpec(kind: .rollingRestart, atSeconds: 0, target: .metaAll)
    f.bad = .meta(2)
    f.count = 2
    let steps = FaultSchedule.steps(for: Scenario(name: "x", faults: [f]), topology: .spof)
    XCTAssertEqual(steps.map(\.action), [.kill, .start, .kill, .start, .kill, .start], "the only server crash-loops")
    XCTAssertTrue(steps.allSatisfy { $0.target == .meta(1) })
  }

  func testStepsAreSortedAcrossFaults() {
    var a = FaultSpec(kind: .pause, atSeconds: 5, target: .metaLeader)
    a.durationSeconds = 10
    let b = FaultSpec(kind: .corrupt, atSeconds: 7, target: .chunkAny(count: 1))
    let steps = FaultSchedule.steps(for: Scenario(name: "x", faults: [a, b]), topology: .spof)
    XCTAssertEqual(steps.map(\.time), [5, 7, 15])
    XCTAssertEqual(steps.map(\.fault), [0, 1, 0])
  }

  /// The generator is CairnCore's SplitMix64: these values must never change, or a scenario's
  /// seed would stop replaying the same run (pinned before the chaos copy was merged into it).
  func testTheSeededGeneratorReplaysKnownValues() {
    var r = SeededRandom(seed: 7)
    XCTAssertEqual([r.next(below: 1000), r.next(below: 1000)], [487, 804])
    XCTAssertEqual(r.unit(), 0.9007606806068834, accuracy: 1e-15)
    var v = SeededRandom(seed: 20260520)
    let picked = ClusterView(metaServers: 3, chunkServers: 5, leader: 1).resolve(.chunkAny(count: 2), random: &v)
    XCTAssertEqual(picked, ["chunk-1", "chunk-5"])
  }

  func testSelectorsResolveFromTheSeed() {
    let view = ClusterView(metaServers: 3, chunkServers: 5, leader: 2)
    var r1 = SeededRandom(seed: 7)
    var r2 = SeededRandom(seed: 7)
    XCTAssertEqual(view.resolve(.metaLeader, random: &r1), ["meta-2"])
    _ = view.resolve(.metaLeader, random: &r2)
    let a = view.resolve(.chunkAny(count: 2), random: &r1)
    XCTAssertEqual(a, view.resolve(.chunkAny(count: 2), random: &r2))
    XCTAssertEqual(Set(a).count, 2)
    XCTAssertFalse(view.resolve(.metaFollower, random: &r1).contains("meta-2"))
    XCTAssertEqual(view.resolve(.rest, random: &r1, excluding: ["meta-1", "chunk-1"]).count, 7)
  }
}
