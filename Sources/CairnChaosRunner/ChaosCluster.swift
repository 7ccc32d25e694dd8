import CairnChaos
import CairnClient
import CairnCore
import CairnTransport
import Foundation

/// A real cluster of `cairn` processes for one chaos run, every link between nodes through a
/// `LinkProxy`: `clients→meta-i`, `clients→chunk-j` (the address chunk servers advertise),
/// `chunk-j→meta-i` (heartbeats) and `meta-i→meta-k` (Raft). The harness itself reaches every
/// server directly (real ports) to set up and to verify after the faults.
final class ChaosCluster: @unchecked Sendable {
  struct Node {
    let name: String
    let realPort: Int
    let dataDirectory: String
    let process: ChaosProcess
    /// The filesystem under `dataDirectory` when it is its own (XFS loop image), for power cuts
    /// and disk-full faults.
    var disk: NodeDisk?
  }

  let directory: String
  let executable: String
  let topology: Topology
  /// How many metadata servers really run (1 when the build has no Raft).
  let metaServers: Int
  let network: ProxyNetwork
  private(set) var nodes: [String: Node] = [:]
  let basePort: Int
  private var nextProxyPort: Int
  let needsOwnDisks: Bool
  let needsFakeTime: Bool

  init(
    directory: String, executable: String, topology: Topology, metaServers: Int, seed: UInt64, needsOwnDisks: Bool,
    needsFakeTime: Bool
  ) {
    self.directory = directory
    self.executable = executable
    self.topology = topology
    self.metaServers = metaServers
    self.needsOwnDisks = needsOwnDisks
    self.needsFakeTime = needsFakeTime
    network = ProxyNetwork(seed: seed)
    basePort = Self.freeBasePort(count: 200)
    nextProxyPort = basePort + 40
  }

  var metaNames: [String] { (1...metaServers).map { "meta-\($0)" } }
  var chunkNames: [String] { (1...topology.chunkServers).map { "chunk-\($0)" } }
  func realAddress(_ name: String) -> String { "127.0.0.1:\(nodes[name]?.realPort ?? 0)" }

  /// Addresses of the metadata servers as `from` sees them (through its links).
  func metaAddresses(from: String) -> [String] {
    metaNames.compactMap { m in network.link(from, m).map { "127.0.0.1:\($0.listenPort)" } }
  }

  /// A client that goes through the `clients` links (what the workload uses).
  func workloadClient(timeoutSeconds: Int = 10) throws(CairnError) -> CairnClient {
    CairnClient(
      metaAddresses: try metaAddresses(from: "clients").map { a throws(CairnError) in try ServerAddress(parsing: a) },
      author: "chaos-workload", timeout: .seconds(timeoutSeconds))
  }

  /// A client straight to the metadata servers' real ports (setup and verification).
  func directClient(_ names: [String]? = nil) throws(CairnError) -> CairnClient {
    CairnClient(
      metaAddresses: try (names ?? metaNames).map { n throws(CairnError) in try ServerAddress(parsing: realAddress(n)) },
      author: "chaos-verifier", timeout: .seconds(10))
  }

  private func allocateProxyPort() -> Int {
    defer { nextProxyPort += 1 }
    return nextProxyPort
  }

  /// Creates data directories (own filesystems when needed), proxies, and starts every server.
  func start(raft: Bool, log: (String) -> Void) async throws(CairnError) {
    try makeDirectory(directory + "/logs")
    try makeDirectory(directory + "/faketime")
    for (i, m) in metaNames.enumerated() { try prepareNode(m, port: basePort + i) }
    for (j, c) in chunkNames.enumerated() { try prepareNode(c, port: basePort + 10 + j) }
    // Proxies.
    for m in metaNames {
      try await network.add(from: "clients", to: m, listenPort: allocateProxyPort(), targetPort: port(m))
      for c in chunkNames { try await network.add(from: c, to: m, listenPort: allocateProxyPort(), targetPort: port(m)) }
      for other in metaNames where other != m {
        try await network.add(from: other, to: m, listenPort: allocateProxyPort(), targetPort: port(m))
      }
    }
    for c in chunkNames {
      try await network.add(from: "clients", to: c, listenPort: allocateProxyPort(), targetPort: port(c))
    }
    // Processes.
    for (i, m) in metaNames.enumerated() {
      var arguments = [
        "meta", "serve", "--data-dir", dataDirectory(m) + "/meta", "--listen", realAddress(m), "--chunk-down-after", "4",
      ]
      if raft {
        let peers = metaNames.enumerated().map { k, other in
          other == m ? "\(k + 1)=\(realAddress(m))" : "\(k + 1)=127.0.0.1:\(network.link(m, other)?.listenPort ?? 0)"
        }
        arguments += ["--id", "\(i + 1)", "--peers", peers.joined(separator: ",")]
      }
      try attachProcess(m, arguments: arguments)
    }
    for (j, c) in chunkNames.enumerated() {
      let advertise = "127.0.0.1:\(network.link("clients", c)?.listenPort ?? 0)"
      try attachProcess(
        c,
        arguments: [
          "chunk", "serve", "--data-dir", dataDirectory(c) + "/chunk", "--listen", realAddress(c), "--meta",
          metaAddresses(from: c).joined(separator: ","), "--advertise", advertise, "--zone", "zone-\(j + 1)", "--heartbeat",
          "1",
        ])
    }
    for name in metaNames + chunkNames {
      try nodes[name]?.process.start()
      log("started \(name) (pid \(nodes[name]?.process.pid ?? 0), port \(port(name)))")
    }
    try await waitHealthy(seconds: 60)
  }

  func port(_ name: String) -> Int { nodes[name]?.realPort ?? 0 }
  func dataDirectory(_ name: String) -> String { nodes[name]?.dataDirectory ?? directory + "/" + name }
  func process(_ name: String) -> ChaosProcess? { nodes[name]?.process }
  func faketimeFile(_ name: String) -> String { directory + "/faketime/" + name }

  private func prepareNode(_ name: String, port: Int) throws(CairnError) {
    let data = directory + "/" + name
    try makeDirectory(data)
    var disk: NodeDisk?
    if needsOwnDisks {
      let d = NodeDisk(image: directory + "/\(name).img", mountpoint: data)
      try d.create()
      disk = d
    }
    let placeholder = ChaosProcess(name: name, executable: executable, arguments: [], logPath: "")
    nodes[name] = Node(name: name, realPort: port, dataDirectory: data, process: placeholder, disk: disk)
  }

  private func attachProcess(_ name: String, arguments: [String]) throws(CairnError) {
    var environment: [String: String] = [:]
    if needsFakeTime {
      let library = FakeTime.libraryPath
      guard FileManager.default.fileExists(atPath: library) else {
        throw CairnError(
          .notFound, "clock-skew faults need libfaketime (\(library)); install the Debian package 'libfaketime'")
      }
      try writeFile(faketimeFile(name), "+0\n")
      environment = [
        "LD_PRELOAD": library, "FAKETIME_TIMESTAMP_FILE": faketimeFile(name), "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_CACHE_DURATION": "1",
      ]
    }
    guard var node = nodes[name] else { return }
    node = Node(
      name: name, realPort: node.realPort, dataDirectory: node.dataDirectory,
      process: ChaosProcess(
        name: name, executable: executable, arguments: arguments, environment: environment,
        logPath: directory + "/logs/\(name).log"),
      disk: node.disk)
    nodes[name] = node
  }

  /// Waits until every metadata server answers, one leads, and every chunk server is up.
  func waitHealthy(seconds: Double) async throws(CairnError) {
    let deadline = Date().addingTimeInterval(seconds)
    var problem = "no answer yet"
    while Date() < deadline {
      for (name, node) in nodes where !node.process.isAlive {
        throw CairnError(.unavailable, "\(name) exited during start-up; its log says:\n\(node.process.logTail())")
      }
      if let leader = await leader() {
        let client = try directClient([leader])
        defer { Task { await client.close() } }
        do throws(CairnError) {
          let up = try await client.clusterStatus().chunkServers.filter(\.isUp).count
          if up >= topology.chunkServers { return }
          problem = "\(up) of \(topology.chunkServers) chunk servers up"
        } catch {
          problem = error.message
        }
      } else {
        problem = "no metadata leader"
      }
      try? await Task.sleep(for: .milliseconds(300))
    }
    throw CairnError(.unavailable, "cluster not healthy after \(Int(seconds)) s (\(problem)); logs in \(directory)/logs")
  }

  /// The metadata server that says it leads, asked directly (nil when none answers as leader).
  func leader() async -> String? {
    for m in metaNames where nodes[m]?.process.isAlive == true {
      guard let client = try? directClient([m]) else { continue }
      let status = try? await client.meta.call(.clusterStatus, timeout: .seconds(2))
      await client.close()
      if case .cluster(let s) = status, s.isLeader { return m }
    }
    return nil
  }

  /// Stops every process, proxy and filesystem of the run.
  func shutdown() async {
    for node in nodes.values { node.process.kill9() }
    await network.shutdown()
    for node in nodes.values { node.disk?.destroy() }
  }

  static func freeBasePort(count: Int) -> Int { LoopbackPorts.freeBase(count: count) }
}

func makeDirectory(_ path: String) throws(CairnError) {
  do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
    throw CairnError(.ioError, "cannot create '\(path)': \(error.localizedDescription)")
  }
}

func writeFile(_ path: String, _ text: String) throws(CairnError) {
  do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
    throw CairnError(.ioError, "cannot write '\(path)': \(error.localizedDescription)")
  }
}

/// libfaketime: a wall-clock offset per process, read from a file it re-reads every second.
enum FakeTime {
  static let libraryPath = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

  /// The file content for an offset in seconds (`+300`, `-120`, `+0`).
  static func offsetText(_ seconds: Double) -> String {
    let whole = Int(seconds.rounded())
    return (whole >= 0 ? "+\(whole)" : "\(whole)") + "\n"
  }
}
