import CairnChaos
import CairnCore
import Foundation

/// Carries out the fault schedule on a running cluster (the "nemesis"): resolves each fault's
/// targets once (from the seed and the current leader), performs each step, and records every
/// fault in the history as an operation whose invoke is its start and whose completion its end.
final class FaultInjector: @unchecked Sendable {
  let cluster: ChaosCluster
  let recorder: HistoryRecorder
  let scenario: Scenario
  let log: @Sendable (String) -> Void
  private var random: SeededRandom
  private var resolved: [String: [String]] = [:]
  private var openOps: [Int: Int] = [:]
  private var slowDisks: [String: SlowDisk] = [:]

  init(cluster: ChaosCluster, recorder: HistoryRecorder, scenario: Scenario, log: @escaping @Sendable (String) -> Void) {
    self.cluster = cluster
    self.recorder = recorder
    self.scenario = scenario
    self.log = log
    random = SeededRandom(seed: scenario.seed ^ 0xFA17)
  }

  func view() async -> ClusterView {
    let leader = await cluster.leader().flatMap { Int($0.dropFirst("meta-".count)) }
    return ClusterView(metaServers: cluster.metaServers, chunkServers: cluster.topology.chunkServers, leader: leader)
  }

  /// The nodes a step acts on: a fault's targets are resolved at its first step and kept (a
  /// rolling restart names each member itself).
  func targets(of step: FaultStep) async -> [String] {
    let key = "\(step.fault)/\(step.target)"
    if let known = resolved[key] { return known }
    var v = await view()
    if step.target == .metaLeader, v.leader == nil {
      // Between leaders (e.g. right after a restart): wait briefly for one.
      for _ in 0..<20 where v.leader == nil {
        try? await Task.sleep(for: .milliseconds(250))
        v = await view()
      }
    }
    let nodes = v.resolve(step.target, random: &random)
    resolved[key] = nodes
    return nodes
  }

  func execute(_ step: FaultStep) async {
    let fault = scenario.faults[step.fault]
    let nodes = await targets(of: step)
    if step.opensWindow {
      openOps[step.fault] = recorder.invoke(.fault, process: "nemesis") {
        $0.detail = "\(fault.label) [\(nodes.joined(separator: ", "))]"
      }
    }
    log("fault: \(describe(step.action)) on \(nodes.joined(separator: ", "))")
    do throws(CairnError) {
      try await perform(step.action, on: nodes)
    } catch {
      log("fault step failed: \(error.message)")
      if let op = openOps[step.fault] {
        recorder.complete(op, .info, kind: .fault, process: "nemesis") { $0.error = error.message }
      }
    }
    if step.closesWindow, let op = openOps.removeValue(forKey: step.fault) {
      recorder.complete(op, .ok, kind: .fault, process: "nemesis") { $0.detail = fault.label }
    }
  }

  func perform(_ action: FaultAction, on nodes: [String]) async throws(CairnError) {
    switch action {
    case .partition(let peers, let oneWay):
      cluster.network.partition(nodes, cluster.resolveGroup(peers, excluding: nodes, random: &random), oneWay: oneWay)
      return
    case .setDelay(let ms, let peers):
      cluster.network.degrade(nodes, cluster.resolveGroup(peers, excluding: nodes, random: &random), delayMilliseconds: ms)
      return
    case .setLoss(let p, let peers):
      cluster.network.degrade(nodes, cluster.resolveGroup(peers, excluding: nodes, random: &random), lossProbability: p)
      return
    case .heal:
      cluster.network.heal(nodes)
      return
    default: break
    }
    for name in nodes {
      guard let process = cluster.process(name) else { continue }
      switch action {
      case .kill:
        process.kill9()
        cluster.network.targetDown(name)
      case .start: if !process.isAlive { try process.start() }
      case .restart:
        process.stop(grace: 10)
        cluster.network.targetDown(name)
        try process.start()
      case .pause: process.signal(SIGSTOP)
      case .resume: process.signal(SIGCONT)
      case .fillDisk: try disk(name).fill()
      case .freeDisk: try disk(name).free()
      case .startSlowDisk(let fraction):
        let slow = SlowDisk(process: process, stallFraction: fraction)
        slowDisks[name] = slow
        slow.start()
      case .stopSlowDisk: slowDisks.removeValue(forKey: name)?.stop()
      case .corrupt(let count): try BlockFiles.damage(in: cluster.dataDirectory(name), count: count, delete: false, random: &random)
      case .deleteBlocks(let count):
        try BlockFiles.damage(in: cluster.dataDirectory(name), count: count, delete: true, random: &random)
      case .setClock(let offset): try writeFile(cluster.faketimeFile(name), FakeTime.offsetText(offset))
      case .powerCut:
        // The process dies first (as in a real power cut, it does nothing more), then the
        // filesystem stops without writing back what was not synced. The other order let the
        // process see I/O errors, abort in RocksDB and linger holding its port.
        process.kill9()
        cluster.network.targetDown(name)
        try disk(name).cutPower()
      case .powerRestore:
        try disk(name).restorePower()
        try process.start()
      case .partition, .setDelay, .setLoss, .heal: break
      }
    }
  }

  func disk(_ name: String) throws(CairnError) -> NodeDisk {
    guard let d = cluster.nodes[name]?.disk else { throw CairnError(.invalidArgument, "\(name) has no disk of its own") }
    return d
  }

  /// Ends what must not outlive the run (slow-disk stalls, stopped processes, partitions).
  func releaseAll() {
    for s in slowDisks.values { s.stop() }
    slowDisks = [:]
    cluster.network.heal(Array(cluster.nodes.keys) + ["clients"])
    for node in cluster.nodes.values { node.process.signal(SIGCONT) }
  }

  func describe(_ action: FaultAction) -> String {
    switch action {
    case .partition(let peers, let oneWay): "partition from \(peers)\(oneWay ? " (one-way)" : "")"
    case .setDelay(let ms, let peers): "delay \(ms) ms to \(peers)"
    case .setLoss(let p, let peers): "loss \(p) to \(peers)"
    case .corrupt(let n): "corrupt \(n) block files"
    case .deleteBlocks(let n): "delete \(n) block files"
    case .setClock(let s): "clock offset \(FakeTime.offsetText(s).trimmingCharacters(in: .whitespacesAndNewlines)) s"
    case .startSlowDisk(let f): "slow disk (stalled \(Int(f * 100)) %)"
    default: "\(action)"
    }
  }
}

extension ChaosCluster {
  /// The node names of a partition's other side.
  func resolveGroup(_ selector: NodeSelector, excluding: [String], random: inout SeededRandom) -> [String] {
    let v = ClusterView(metaServers: metaServers, chunkServers: topology.chunkServers, leader: nil)
    return v.resolve(selector, random: &random, excluding: excluding)
  }
}

/// A slow disk, approximated: the process is stopped for `stallFraction` of every 100 ms, so
/// every I/O it issues (and everything else) takes that much longer. Documented in docs/chaos.md.
final class SlowDisk: @unchecked Sendable {
  let process: ChaosProcess
  let stallFraction: Double
  private let lock = NSLock()
  private var stopped = false

  init(process: ChaosProcess, stallFraction: Double) {
    self.process = process
    self.stallFraction = stallFraction
  }

  func start() {
    let thread = Thread { [self] in
      while !lock.withLock({ stopped }) {
        process.signal(SIGSTOP)
        usleep(useconds_t(100_000 * stallFraction))
        process.signal(SIGCONT)
        usleep(useconds_t(100_000 * (1 - stallFraction)))
      }
      process.signal(SIGCONT)
    }
    thread.start()
  }

  func stop() {
    lock.withLock { stopped = true }
    usleep(200_000)
    process.signal(SIGCONT)
  }
}

/// Block files of a chunk server on disk (64-hex-digit names under its data directory).
enum BlockFiles {
  static func list(in directory: String) -> [String] {
    guard let e = FileManager.default.enumerator(atPath: directory) else { return [] }
    return e.compactMap { $0 as? String }.filter { path in
      let name = (path as NSString).lastPathComponent
      return name.utf8.count == 64 && name.allSatisfy(\.isHexDigit) && !path.contains("quarantine")
    }.sorted().map { directory + "/" + $0 }
  }

  /// Overwrites the bytes of `count` block files chosen by the seed with garbage (same length),
  /// or deletes them.
  static func damage(in directory: String, count: Int, delete: Bool, random: inout SeededRandom)
    throws(CairnError)
  {
    var files = list(in: directory)
    var chosen: [String] = []
    while chosen.count < count && !files.isEmpty { chosen.append(files.remove(at: random.next(below: files.count))) }
    for path in chosen {
      if delete {
        try? FileManager.default.removeItem(atPath: path)
        continue
      }
      guard var bytes = FileManager.default.contents(atPath: path).map({ [UInt8]($0) }), !bytes.isEmpty else { continue }
      // Keep any header, spoil the rest.
      let from = min(bytes.count - 1, 64)
      for i in from..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: random.next()) }
      guard FileManager.default.createFile(atPath: path + ".chaos", contents: Data(bytes)),
        rename(path + ".chaos", path) == 0
      else { throw CairnError(.ioError, "cannot corrupt '\(path)'") }
    }
  }
}
