import Foundation
import XCTest

/// Degraded mode on real processes and real FUSE mounts: every metadata server is killed (-9)
/// while mounts run; reads, writes, queued commits, a restart of the mount daemon and a new mount
/// of the cached version keep working; when the metadata servers return, the queued commits land
/// once each, in order, with their content. With `--degraded off` the same outage fails fast.
final class DegradedModeMountTests: MountTestCase {
  /// The `ha` topology's metadata group: "every metadata server down" means all three.
  override class var metaServers: Int { 3 }
  var nodeCache: String { scratch + "/node-cache" }

  /// A mount sharing this test's node metadata cache; metadata requests time out after 3 s
  /// (instead of 10) to keep the test short.
  @discardableResult
  func degradedMount(name: String, cache: String? = nil, extra: [String] = []) throws -> MountedVolume {
    let timeout = extra.contains("--timeout") ? [] : ["--timeout", "3"]
    return try mount(name: name, cacheDirectory: cache, extra: ["--metadata-cache-dir", nodeCache] + timeout + extra)
  }

  func status(_ m: MountedVolume) throws -> [String: Any] {
    let r = cluster.cairn(["status", m.mountpoint, "--json"])
    XCTAssertEqual(r.status, 0, r.err)
    return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
  }

  func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

  func seedVolume() throws -> Int {
    let local = scratch + "/seed"
    try sh(
      """
      mkdir -p data/sub other
      head -c 300000 /dev/urandom > data/a.bin
      echo bee > data/sub/b.txt
      echo sea > other/c.txt
      """, in: try makeDirectory(local))
    try cairnOK(["volume", "put", "demo", local + "/data", "/data"])
    try cairnOK(["volume", "put", "demo", local + "/other", "/other"])
    let history = try JSONSerialization.jsonObject(with: Data(try cairnOK(["volume", "history", "demo", "--json"]).utf8))
    return try XCTUnwrap((history as? [[String: Any]])?.first?["version"] as? Int)
  }

  func makeDirectory(_ path: String) throws -> String {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  func testMountsKeepWorkingWhileEveryMetadataServerIsDownAndQueuedCommitsLandOnceInOrder() throws {
    let base = try seedVolume()
    let original = try XCTUnwrap(FileManager.default.contents(atPath: scratch + "/seed/data/a.bin"))
    let m0Cache = scratch + "/cache-m0"
    var m0 = try degradedMount(name: "m0", cache: m0Cache)
    XCTAssertEqual(FileManager.default.contents(atPath: m0.path("data/a.bin")), original)
    XCTAssertEqual(read(m0.path("data/sub/b.txt")), "bee\n")
    XCTAssertEqual(try status(m0)["connection"] as? String, "connected")

    let servers = cluster.killMetadataServers()
    XCTAssertEqual(servers.count, 3, "every metadata server of the group: \(cluster.pids())")

    // Reads of what the mount has seen keep working; a never-listed directory fails at once.
    XCTAssertEqual(FileManager.default.contents(atPath: m0.path("data/a.bin")), original)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: m0.path("data/sub")), ["b.txt"])
    let started = Date()
    let ls = Spawn.run("/bin/ls", [m0.path("other")])
    XCTAssertNotEqual(ls.status, 0)
    XCTAssertTrue(ls.err.contains("Input/output error"), ls.err)
    XCTAssertLessThan(Date().timeIntervalSince(started), 8, "a never-seen directory fails within one request timeout (3 s)")
    XCTAssertTrue(m0.log.contains("not in this node's metadata cache"), "the failure is logged clearly: \(m0.log.suffix(2000))")
    var s = try status(m0)
    XCTAssertEqual(s["connection"] as? String, "degraded")
    XCTAssertNotNil(s["degradedSince"] as? String)
    XCTAssertNotNil(s["lastError"] as? String)

    // Writes are staged; commits are queued (exit 9) in order. Chunk servers are up: the blocks
    // of the first commit go to them although metadata is down.
    let blocksBefore = cluster.blockFileCount()
    try sh("echo one > data/new.txt", in: m0.mountpoint)
    var r = cluster.cairn(["commit", m0.mountpoint, "-m", "first"])
    XCTAssertEqual(r.status, 9, "queued: \(r.out) \(r.err)")
    XCTAssertTrue(r.out.hasPrefix("queued:"), r.out)
    try cluster.waitUntil("uploads to proceed while metadata is down", timeout: 10) {
      self.cluster.blockFileCount() > blocksBefore
    }
    try sh("echo two > data/new.txt && echo second > data/second.txt", in: m0.mountpoint)
    r = cluster.cairn(["commit", m0.mountpoint, "-m", "second"])
    XCTAssertEqual(r.status, 9, r.err)
    XCTAssertEqual(try status(m0)["queuedCommits"] as? Int, 2)
    let control = Spawn.run("/bin/bash", ["-c", "echo commit > \(m0.path(".cairn/control"))"])
    XCTAssertTrue(control.err.contains("Operation now in progress"), "queued, via the control file: \(control.err)")

    // The mount daemon dies; its replacement starts from the node cache with the queue intact.
    kill(m0.pid, SIGKILL)
    m0.wait()
    Self.forceUnmount(m0.mountpoint)
    m0 = try degradedMount(name: "m0", cache: m0Cache)
    s = try status(m0)
    XCTAssertEqual(s["queuedCommits"] as? Int, 2)
    XCTAssertEqual(s["connection"] as? String, "degraded")
    XCTAssertEqual(read(m0.path("data/new.txt")), "two\n")
    XCTAssertEqual(read(m0.path("data/second.txt")), "second\n")
    XCTAssertEqual(FileManager.default.contents(atPath: m0.path("data/a.bin")), original)

    // A new mount of the cached version starts (blocks come from the chunk servers, still up).
    let m1 = try degradedMount(name: "m1")
    s = try status(m1)
    XCTAssertEqual(s["pinnedVersion"] as? Int, base)
    XCTAssertTrue((s["versionSource"] as? String)?.contains("node metadata cache") == true, "\(s)")
    XCTAssertEqual(FileManager.default.contents(atPath: m1.path("data/a.bin")), original)

    // The chunk servers go down too: a third commit is queued with its data kept on the node.
    let chunkServers = cluster.killServers(prefix: "chunk")
    try sh("head -c 200000 /dev/urandom > data/third.bin", in: m0.mountpoint)
    let third = try XCTUnwrap(FileManager.default.contents(atPath: m0.path("data/third.bin")))
    r = cluster.cairn(["commit", m0.mountpoint, "-m", "third"])
    XCTAssertEqual(r.status, 9, r.err)
    XCTAssertEqual(FileManager.default.contents(atPath: m0.path("data/third.bin")), third)

    // The cluster returns: the queue drains, in order, once each.
    cluster.restart(chunkServers)
    cluster.restart(servers)
    try cluster.waitUntil("the queue to drain", timeout: 40) { try self.status(m0)["queuedCommits"] as? Int == 0 }
    s = try status(m0)
    XCTAssertEqual(s["connection"] as? String, "connected")
    XCTAssertEqual(s["pinnedVersion"] as? Int, base + 3)
    let history = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(try cairnOK(["volume", "history", "demo", "--json"]).utf8)) as? [[String: Any]])
    XCTAssertEqual(history.first?["version"] as? Int, base + 3, "exactly three new versions")
    XCTAssertEqual(history.prefix(3).compactMap { $0["message"] as? String }, ["third", "second", "first"])
    let fetched = scratch + "/third.bin"
    try cairnOK(["volume", "get", "demo", "/data/third.bin", fetched])
    XCTAssertEqual(FileManager.default.contents(atPath: fetched), third, "the data kept on the node reached the cluster")
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/data/new.txt", "-", "--version", "\(base + 1)"]), "one\n")
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/data/new.txt", "-"]), "two\n")
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/data/second.txt", "-"]), "second\n")
    XCTAssertEqual(try unmount(m0), 0)
    XCTAssertEqual(try unmount(m1), 0)
  }

  /// Also strict mode: a queued commit whose path another writer changed is refused on replay,
  /// waits (never dropped), and goes through once an operator chooses merge.
  func testStalledMetadataServersAreNoticedAndAStrictConflictOnReplayWaitsForADecision() throws {
    let base = try seedVolume()
    let m = try degradedMount(name: "stall", extra: ["--timeout", "2", "--commit-mode", "strict"])
    XCTAssertEqual(read(m.path("data/sub/b.txt")), "bee\n")
    // Another writer changes b.txt after this mount pinned its version.
    let other = scratch + "/other-b.txt"
    try "other\n".write(toFile: other, atomically: true, encoding: .utf8)
    try cairnOK(["volume", "put", "demo", other, "/data/sub/b.txt", "--force"])
    let paused = cluster.pids().filter { $0.key.hasPrefix("meta") }.map(\.value)
    XCTAssertFalse(paused.isEmpty)
    for pid in paused { kill(pid, SIGSTOP) }
    defer { for pid in paused { kill(pid, SIGCONT) } }
    var started = Date()
    let ls = Spawn.run("/bin/ls", [m.path("other")])
    XCTAssertTrue(ls.err.contains("Input/output error"), ls.err)
    XCTAssertLessThan(Date().timeIntervalSince(started), 10, "a stalled service costs one request timeout, not a hang")
    XCTAssertEqual(read(m.path("data/sub/b.txt")), "bee\n", "the pinned version")
    try sh("echo mine > data/sub/b.txt", in: m.mountpoint)
    started = Date()
    let r = cluster.cairn(["commit", m.mountpoint, "-m", "during the stall"])
    XCTAssertEqual(r.status, 9, r.out + r.err)
    XCTAssertLessThan(Date().timeIntervalSince(started), 10, "a known outage queues at once")
    XCTAssertEqual(try status(m)["connection"] as? String, "degraded")
    for pid in paused { kill(pid, SIGCONT) }
    try cluster.waitUntil("the replay to be refused", timeout: 40) { try self.status(m)["queueError"] is String }
    let s = try status(m)
    XCTAssertEqual(s["queuedCommits"] as? Int, 1, "the refused commit stays queued")
    XCTAssertTrue((s["queueError"] as? String)?.contains("/data/sub/b.txt") == true, "\(s)")
    XCTAssertTrue(m.log.contains("a queued commit was refused"))
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/data/sub/b.txt", "-"]), "other\n")
    let resolved = cluster.cairn(["commit", m.mountpoint, "--resolve-queued", "merge"])
    XCTAssertEqual(resolved.status, 0, resolved.out + resolved.err)
    XCTAssertEqual(try status(m)["queuedCommits"] as? Int, 0)
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/data/sub/b.txt", "-", "--version", "\(base + 2)"]), "mine\n")
  }

  /// Chaos finding (issue 7): every metadata server stopped (SIGSTOP: they accept connections
  /// and never answer) before the mount noticed anything. A commit with the default 10 s request
  /// timeout is queued after a few seconds (the client probes every server and finds them all
  /// silent), not after the timeout (it took 10 s and more before). After SIGCONT the queue
  /// drains and the commit is there exactly once: the abandoned first attempt, still in the
  /// servers' socket buffers, may be applied as well, and carries the same idempotency key.
  func testACommitWhileEveryMetadataServerIsStoppedIsQueuedPromptly() throws {
    let base = try seedVolume()
    let m = try degradedMount(name: "stopped", extra: ["--timeout", "10"])
    XCTAssertEqual(read(m.path("data/sub/b.txt")), "bee\n")
    try sh("echo during > data/during.txt", in: m.mountpoint)
    let paused = cluster.pids().filter { $0.key.hasPrefix("meta") }.map(\.value)
    XCTAssertEqual(paused.count, 3)
    for pid in paused { kill(pid, SIGSTOP) }
    defer { for pid in paused { kill(pid, SIGCONT) } }
    let started = Date()
    let r = cluster.cairn(["commit", m.mountpoint, "-m", "during the stop"])
    let took = Date().timeIntervalSince(started)
    XCTAssertEqual(r.status, 9, "queued: \(r.out) \(r.err)")
    XCTAssertLessThan(took, 7.5, "queued after \(took) s; the request timeout is 10 s")
    XCTAssertEqual(try status(m)["connection"] as? String, "degraded")
    XCTAssertEqual(read(m.path("data/during.txt")), "during\n", "the queued commit is visible in the mount")
    for pid in paused { kill(pid, SIGCONT) }
    try cluster.waitUntil("the queue to drain", timeout: 40) { try self.status(m)["queuedCommits"] as? Int == 0 }
    let history = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(try cairnOK(["volume", "history", "demo", "--json"]).utf8)) as? [[String: Any]])
    XCTAssertEqual(history.filter { $0["message"] as? String == "during the stop" }.count, 1, "exactly once: \(history)")
    XCTAssertEqual(history.first?["version"] as? Int, base + 1)
    XCTAssertEqual(try cairnOK(["volume", "get", "demo", "/data/during.txt", "-"]), "during\n")
    XCTAssertEqual(try unmount(m), 0)
    print("commit queued after \(String(format: "%.2f", took)) s with every metadata server stopped")
  }

  func testWithDegradedModeOffTheOutageFailsFast() throws {
    _ = try seedVolume()
    let m = try degradedMount(name: "spof", extra: ["--degraded", "off"])
    XCTAssertEqual(read(m.path("data/sub/b.txt")), "bee\n")
    _ = cluster.killMetadataServers()
    let started = Date()
    let ls = Spawn.run("/bin/ls", [m.path("other")])
    XCTAssertTrue(ls.err.contains("Input/output error"), ls.err)
    try sh("echo lost > data/x.txt", in: m.mountpoint)
    let r = cluster.cairn(["commit", m.mountpoint])
    XCTAssertEqual(r.status, 5, "unavailable, not queued: \(r.out) \(r.err)")
    XCTAssertLessThan(Date().timeIntervalSince(started), 30, "within a few request timeouts (--timeout 3), no hang")
    let s = try status(m)
    XCTAssertEqual(s["connection"] as? String, "unreachable")
    XCTAssertEqual(s["queuedCommits"] as? Int, 0)
    let mountpoint = try makeDirectory(scratch + "/spof2")
    let second = cluster.cairn(
      ["mount", "demo", mountpoint, "--degraded", "off", "--timeout", "3", "--cache-dir", scratch + "/cache-spof2", "--meta", cluster.metaAddresses])
    XCTAssertNotEqual(second.status, 0, "a new mount cannot start without the metadata service")
    XCTAssertFalse(Self.isMounted(mountpoint))
  }
}

extension TestCluster {
  /// A killed server and the command line that starts it again.
  struct StoppedServer {
    var name: String
    var arguments: [String]
  }

  /// SIGKILLs every metadata server (`pids/meta*.pid`) and waits until each is gone.
  func killMetadataServers() -> [StoppedServer] { killServers(prefix: "meta") }

  /// Files holding blocks on every chunk server of the cluster.
  func blockFileCount() -> Int {
    var count = 0
    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("chunk-") {
      let root = directory + "/" + name + "/blocks/blocks"
      let walker = FileManager.default.enumerator(atPath: root)
      while let file = walker?.nextObject() as? String {
        if walker?.fileAttributes?[.type] as? FileAttributeType == .typeRegular, !file.contains("tmp") { count += 1 }
      }
    }
    return count
  }

  /// SIGKILLs every server whose pid file name starts with `prefix` and waits until each is gone.
  func killServers(prefix: String) -> [StoppedServer] {
    var stopped: [StoppedServer] = []
    for (name, pid) in pids() where name.hasPrefix(prefix) {
      guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
      let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
      kill(pid, SIGKILL)
      for _ in 0..<250 {
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
        if state == nil || state == "Z" { break }
        usleep(20_000)
      }
      stopped.append(StoppedServer(name: name, arguments: arguments))
    }
    return stopped
  }

  /// Starts killed servers again with their own command lines (same data directories and ports).
  func restart(_ servers: [StoppedServer]) {
    for server in servers {
      guard let executable = server.arguments.first else { continue }
      let pid = Spawn.start(executable, Array(server.arguments.dropFirst()), logPath: directory + "/logs/\(server.name).log")
      try? "\(pid)\n".write(toFile: directory + "/pids/\(server.name).pid", atomically: true, encoding: .utf8)
    }
  }
}
