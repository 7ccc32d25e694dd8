import CairnChaos
import CairnCore
import Foundation
import XCTest

@testable import CairnChaosRunner

/// Each fault of the catalogue on a real process, disk or file (the network faults are in
/// LinkProxyTests; whole scenarios in ChaosScenarioTests).
final class FaultInjectorTests: XCTestCase {
  var scratch: String!
  var processes: [ChaosProcess] = []
  var disks: [NodeDisk] = []

  override func setUpWithError() throws {
    scratch = NSTemporaryDirectory() + "cairn-chaos-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
  }

  override func tearDown() {
    for p in processes { p.kill9() }
    for d in disks { d.destroy() }
    try? FileManager.default.removeItem(atPath: scratch)
    super.tearDown()
  }

  func sleeper() throws -> ChaosProcess {
    let p = ChaosProcess(name: "sleeper", executable: "/bin/sleep", arguments: ["100"], logPath: scratch + "/sleep.log")
    processes.append(p)
    try p.start()
    return p
  }

  static func state(_ pid: pid_t?) -> Character? {
    guard let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    return stat[stat.index(close, offsetBy: 2)]
  }

  func testKillNineAndRestart() throws {
    let p = try sleeper()
    let first = p.pid
    XCTAssertTrue(p.isAlive)
    p.kill9()
    XCTAssertFalse(p.isAlive)
    XCTAssertNil(Self.state(first))
    try p.start()
    XCTAssertTrue(p.isAlive)
    XCTAssertNotEqual(p.pid, first)
  }

  func testPauseAndResume() throws {
    let p = try sleeper()
    p.signal(SIGSTOP)
    usleep(100_000)
    XCTAssertEqual(Self.state(p.pid), "T")
    p.signal(SIGCONT)
    usleep(100_000)
    XCTAssertEqual(Self.state(p.pid), "S")
  }

  func testCrashLoopStepsKillAndStartTheSameNode() throws {
    // The schedule's steps carried out on a process: kill, (start, kill)×2, start.
    var f = FaultSpec(kind: .crashLoop, atSeconds: 0, target: .meta(1))
    f.count = 2
    let p = try sleeper()
    var pids: Set<pid_t> = []
    for step in FaultSchedule.steps(for: Scenario(name: "x", faults: [f]), topology: .spof) {
      switch step.action {
      case .kill: p.kill9()
      case .start:
        try p.start()
        pids.insert(p.pid ?? 0)
      default: XCTFail("unexpected \(step.action)")
      }
    }
    XCTAssertEqual(pids.count, 3, "three starts: two crashing runs and the rollback")
    XCTAssertTrue(p.isAlive)
  }

  func testGracefulRestartUsesSIGTERM() throws {
    let p = try sleeper()
    let first = p.pid
    p.stop(grace: 5)
    try p.start()
    XCTAssertNotEqual(first, p.pid)
    XCTAssertTrue(p.isAlive)
  }

  func testSlowDiskStallsTheProcessPartOfTheTime() throws {
    let p = try sleeper()
    let slow = SlowDisk(process: p, stallFraction: 0.9)
    slow.start()
    var stopped = 0
    for _ in 0..<40 {
      if Self.state(p.pid) == "T" { stopped += 1 }
      usleep(10_000)
    }
    slow.stop()
    XCTAssertGreaterThan(stopped, 15, "a 90 % stall should be seen most of the time")
    usleep(100_000)
    XCTAssertEqual(Self.state(p.pid), "S", "the process runs again after the fault")
  }

  func testClockSkewMovesWallClockButNotMonotonic() throws {
    try XCTSkipUnless(FileManager.default.fileExists(atPath: FakeTime.libraryPath), "libfaketime not installed")
    let file = scratch + "/faketime"
    try FakeTime.offsetText(-3600).write(toFile: file, atomically: true, encoding: .utf8)
    let script = "import time; print(time.time(), time.monotonic())"
    let p = ChaosProcess(
      name: "clock", executable: "/usr/bin/python3", arguments: ["-c", script],
      environment: [
        "LD_PRELOAD": FakeTime.libraryPath, "FAKETIME_TIMESTAMP_FILE": file, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_CACHE_DURATION": "1",
      ], logPath: scratch + "/clock.log")
    try p.start()
    _ = ChaosProcess.waitExit(p.pid ?? 0, seconds: 20)
    let fields = ((try? String(contentsOfFile: scratch + "/clock.log", encoding: .utf8)) ?? "").split(separator: " ")
      .compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    XCTAssertEqual(fields.count, 2, "python printed: \(fields)")
    guard fields.count == 2 else { return }
    XCTAssertEqual(fields[0], Date().timeIntervalSince1970 - 3600, accuracy: 30, "wall clock moved back an hour")
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    XCTAssertEqual(fields[1], Double(ts.tv_sec), accuracy: 30, "monotonic clock left real")
  }

  func testCorruptAndDeleteBlockFiles() throws {
    let dir = scratch + "/chunk/blocks/ab/cd"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let original = Data(repeating: 7, count: 4096)
    for i in 0..<6 {
      let name = String(repeating: "\(i)", count: 64)
      FileManager.default.createFile(atPath: dir + "/" + name, contents: original)
    }
    FileManager.default.createFile(atPath: dir + "/not-a-block", contents: original)
    var random = SeededRandom(seed: 3)
    try BlockFiles.damage(in: scratch + "/chunk", count: 2, delete: false, random: &random)
    let files = BlockFiles.list(in: scratch + "/chunk")
    XCTAssertEqual(files.count, 6)
    let changed = files.filter { FileManager.default.contents(atPath: $0) != original }
    XCTAssertEqual(changed.count, 2)
    for path in changed { XCTAssertEqual(FileManager.default.contents(atPath: path)?.count, 4096, "same length") }
    try BlockFiles.damage(in: scratch + "/chunk", count: 3, delete: true, random: &random)
    XCTAssertEqual(BlockFiles.list(in: scratch + "/chunk").count, 3)
    XCTAssertEqual(FileManager.default.contents(atPath: dir + "/not-a-block"), original, "only block files are touched")
  }

  func testDiskFullAndFreed() throws {
    try XCTSkipUnless(getuid() == 0, "loop devices need root")
    let disk = NodeDisk(image: scratch + "/full.img", mountpoint: scratch + "/full")
    try FileManager.default.createDirectory(atPath: disk.mountpoint, withIntermediateDirectories: true)
    try disk.create()
    disks.append(disk)
    try disk.fill()
    let big = Data(repeating: 1, count: 4 << 20)
    XCTAssertFalse(writeSynced(disk.mountpoint + "/x", big), "a full disk accepted 4 MiB")
    disk.free()
    XCTAssertTrue(writeSynced(disk.mountpoint + "/y", big))
  }

  func testPowerCutLosesUnsyncedWritesOnly() throws {
    try XCTSkipUnless(getuid() == 0, "loop devices need root")
    let disk = NodeDisk(image: scratch + "/power.img", mountpoint: scratch + "/power")
    try FileManager.default.createDirectory(atPath: disk.mountpoint, withIntermediateDirectories: true)
    try disk.create()
    disks.append(disk)
    XCTAssertTrue(writeSynced(disk.mountpoint + "/synced", Data("kept".utf8)))
    FileManager.default.createFile(atPath: disk.mountpoint + "/unsynced", contents: Data("lost".utf8))
    try disk.cutPower()
    XCTAssertNil(FileManager.default.contents(atPath: disk.mountpoint + "/synced"), "a shut-down filesystem still served reads")
    try disk.restorePower()
    XCTAssertEqual(FileManager.default.contents(atPath: disk.mountpoint + "/synced"), Data("kept".utf8))
    let unsynced = FileManager.default.contents(atPath: disk.mountpoint + "/unsynced")
    XCTAssertTrue(unsynced == nil || unsynced?.isEmpty == true, "unsynced data survived the power cut")
  }

  /// Writes and fsyncs (file and directory); false on any error.
  func writeSynced(_ path: String, _ data: Data) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    let n = data.withUnsafeBytes { write(fd, $0.baseAddress, data.count) }
    guard n == data.count, fsync(fd) == 0 else { return false }
    let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY)
    defer { close(dir) }
    return fsync(dir) == 0
  }
}
