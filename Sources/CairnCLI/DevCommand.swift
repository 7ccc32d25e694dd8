import ArgumentParser
import CairnClient
import CairnCore
import CairnTransport
import Foundation

/// `cairn dev …`: a whole cluster on loopback for trying Cairn and for tests.
struct DevCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dev", abstract: "Run a local cluster on loopback.", subcommands: [DevUp.self, DevDown.self, DevStatus.self])
}

struct DevOptions: ParsableArguments {
  @Option(help: "Directory for data, logs and pid files.") var dir: String = ".cairn"
}

struct DevUp: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "up",
    abstract: "Start metadata servers (a Raft group of three by default) and chunk servers in the background, and create volume 'demo'.")
  @OptionGroup var options: DevOptions
  @Option(help: "Number of chunk servers.") var chunkServers: Int = 3
  @Option(help: "Number of metadata servers: 3 or 5 form a Raft group; 1 is the single-server topology (no Raft).")
  var metaServers: Int = 3
  @Option(help: "Raft election timeout of the metadata servers in milliseconds (default 1000).")
  var electionTimeoutMs: Int?
  @Option(
    help:
      "Port of metadata server 1; chunk server N uses base-port+N, metadata server K>1 uses base-port+18+K.")
  var basePort: Int = 7700
  @Option(help: "Seconds to wait for the cluster to become healthy.") var wait: Double = 30
  // Mount of volume 'demo' (see MountDev.swift).
  @Option(help: "Also mount volume 'demo' here (default: /vol when root with the default --dir; \"\" for none).")
  var mount: String?
  @Option(help: "TOML config passed to every metadata server (e.g. repair and GC settings); flags still win.")
  var metaConfig: String?
  @Option(help: "TOML config passed to every chunk server (e.g. scrub settings); flags still win.")
  var chunkConfig: String?

  /// `--config PATH` for a server, when a config file was given.
  static func configArguments(_ path: String?) -> [String] {
    path.map { ["--config", URL(fileURLWithPath: $0).standardizedFileURL.path] } ?? []
  }

  func validate() throws {
    guard (1...16).contains(chunkServers) else { throw ValidationError("--chunk-servers must be between 1 and 16") }
    guard (1...7).contains(metaServers) else { throw ValidationError("--meta-servers must be between 1 and 7") }
    guard (1024...65000).contains(basePort) else { throw ValidationError("--base-port must be between 1024 and 65000") }
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let cluster = DevCluster(directory: options.dir)
      if cluster.processes().contains(where: \.isAlive) {
        Terminal.out("a dev cluster is already running in \(cluster.directory) (see 'cairn dev status'; stop it with 'cairn dev down')")
        return
      }
      let metas = DevCluster.metaLayout(count: metaServers, basePort: basePort)
      let metaAddress = metas.map(\.address).joined(separator: ",")
      var started: [(String, pid_t, String)] = []
      let peers = metas.map { "\($0.id)=\($0.address)" }.joined(separator: ",")
      for meta in metas {
        var arguments = [
          "meta", "serve", "--data-dir", cluster.directory + "/" + meta.name, "--listen", meta.address,
          "--chunk-down-after", "4",
        ]
        if metas.count > 1 { arguments += ["--id", "\(meta.id)", "--peers", peers] }
        if let electionTimeoutMs { arguments += ["--election-timeout-ms", "\(electionTimeoutMs)"] }
        arguments += Self.configArguments(metaConfig)
        let pid = try cluster.spawn(name: meta.name, arguments: arguments)
        started.append((meta.name, pid, meta.address))
      }
      for i in 1...chunkServers {
        let address = "127.0.0.1:\(basePort + i)"
        let pid = try cluster.spawn(
          name: "chunk-\(i)",
          arguments: [
            "chunk", "serve", "--data-dir", cluster.directory + "/chunk-\(i)", "--listen", address, "--meta", metaAddress,
            "--zone", "zone-\(i)", "--heartbeat", "1",
          ] + Self.configArguments(chunkConfig))
        started.append(("chunk-\(i)", pid, address))
      }
      let first = metas[0]
      let client = CairnClient(
        metaAddresses: try metas.map { m throws(CairnError) in try ServerAddress(parsing: m.address) },
        timeout: .seconds(10))
      // Start-up checks talk to metadata server 1 alone, to be sure the answer is from ours.
      let probe = CairnClient(metaAddresses: [try ServerAddress(parsing: first.address)], timeout: .seconds(5))
      let deadline = Date().addingTimeInterval(wait)
      var lastProblem = "no answer yet"
      while true {
        for (name, pid, _) in started where !DevCluster.isAlive(pid) {
          _ = cluster.stopAll(grace: 2)
          throw CairnError(.unavailable, "\(name) exited during start-up; its log says:\n\(cluster.logTail(name))")
        }
        do throws(CairnError) {
          let status = try await probe.clusterStatus()
          // Make sure the server answering is ours, not another process on the same port.
          let ourId = (try? String(contentsOfFile: cluster.directory + "/\(first.name)/server-id", encoding: .utf8))
            .flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
          if let ourId, status.metaServerId != ourId {
            _ = cluster.stopAll(grace: 2)
            throw CairnError(
              .unavailable,
              "another Cairn metadata server already answers on \(first.address); pick another --base-port. Log:\n\(cluster.logTail(first.name))")
          }
          let up = status.chunkServers.filter(\.isUp).count
          if ourId != nil && up >= chunkServers { break }
          lastProblem = "\(up) of \(chunkServers) chunk servers up"
        } catch {
          lastProblem = error.message
        }
        if Date() > deadline {
          _ = cluster.stopAll(grace: 2)
          throw CairnError(.unavailable, "cluster not healthy after \(Int(wait)) s (\(lastProblem)); logs in \(cluster.logDirectory)")
        }
        try? await Task.sleep(for: .milliseconds(200))
      }
      try writeClientConfig(meta: metaAddress, cluster: cluster)
      let demo = try VolumeName("demo")
      do throws(CairnError) {
        _ = try await client.volume(demo)
      } catch {
        guard error.code == .notFound else { throw error }
        _ = try await client.createVolume(
          demo, settings: VolumeSettings(replicationFactor: UInt8(min(3, chunkServers))))
      }
      await client.close()
      await probe.close()
      // Mount of volume 'demo' (see MountDev.swift).
      if let mountpoint = mount ?? DevMount.defaultMountpoint(dataDirectory: options.dir), !mountpoint.isEmpty {
        try await DevMount.start(cluster: cluster, meta: metaAddress, mountpoint: mountpoint)
        started.append((DevMount.processName, cluster.processes().first { $0.name == DevMount.processName }?.pid ?? 0, mountpoint))
      }
      Terminal.out("Cairn dev cluster is up in \(cluster.directory):")
      for (name, pid, address) in started { Terminal.out("  \(name.padding(toLength: 9, withPad: " ", startingAt: 0)) pid \(pid)  \(address)") }
      Terminal.out("  volume 'demo' is ready; client config written to \(ClientConfig.userConfigPath())")
      Terminal.out("Try: cairn volume put demo ./somedir /data && cairn volume ls demo /data")
    }
  }

  func writeClientConfig(meta: String, cluster: DevCluster) throws(CairnError) {
    let text = "# written by 'cairn dev up'\nmeta = \"\(meta)\"\n"
    for path in [cluster.directory + "/client.toml", ClientConfig.userConfigPath()] {
      do {
        try FileManager.default.createDirectory(
          atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
      } catch {
        throw CairnError(.ioError, "cannot write client config '\(path)': \(error.localizedDescription)")
      }
    }
  }
}

struct DevDown: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "down", abstract: "Stop the local cluster (data is kept).")
  @OptionGroup var options: DevOptions

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let cluster = DevCluster(directory: options.dir)
      DevMount.stop(cluster: cluster)  // commit and unmount 'demo' while the servers still run
      let stopped = cluster.stopAll()
      Terminal.out(stopped.isEmpty ? "no dev cluster running in \(cluster.directory)" : "stopped \(stopped.joined(separator: ", "))")
    }
  }
}

struct DevStatus: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the local cluster's processes.")
  @OptionGroup var options: DevOptions

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let cluster = DevCluster(directory: options.dir)
      let processes = cluster.processes()
      if processes.isEmpty {
        Terminal.out("no dev cluster in \(cluster.directory)")
        throw CairnError(.notFound, "nothing to show")
      }
      Terminal.table(
        ["PROCESS", "PID", "STATE"], processes.map { [$0.name, "\($0.pid)", $0.isAlive ? "running" : "stopped"] })
    }
  }
}

