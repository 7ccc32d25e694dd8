import CairnClient
import CairnCore
import Foundation

/// Starts and stops the processes of a local cluster under one directory:
/// `DIR/meta`, `DIR/chunk-N` (data), `DIR/logs/*.log`, `DIR/pids/*.pid`, `DIR/client.toml`.
struct DevCluster {
  let directory: String

  init(directory: String) {
    self.directory = URL(fileURLWithPath: directory).standardizedFileURL.path
  }

  var pidDirectory: String { directory + "/pids" }
  var logDirectory: String { directory + "/logs" }

  /// The running `cairn` executable.
  static func executable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
  }

  /// Starts `arguments` as a detached background process (its own session) logging to
  /// `logs/NAME.log`; records its pid in `pids/NAME.pid`.
  func spawn(name: String, arguments: [String]) throws(CairnError) -> pid_t {
    for dir in [pidDirectory, logDirectory] {
      do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
        throw CairnError(.ioError, "cannot create '\(dir)': \(error.localizedDescription)")
      }
    }
    let logPath = logDirectory + "/\(name).log"
    let pid = try DetachedProcess.spawn(name, arguments: arguments, logPath: logPath, newSession: true)
    do {
      try "\(pid)\n".write(toFile: pidDirectory + "/\(name).pid", atomically: true, encoding: .utf8)
    } catch {
      throw CairnError(.ioError, "cannot write pid file for \(name)")
    }
    return pid
  }

  /// Processes recorded in `pids/`, with whether each is alive.
  func processes() -> [(name: String, pid: pid_t, isAlive: Bool)] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: pidDirectory)) ?? []
    return names.filter { $0.hasSuffix(".pid") }.sorted().compactMap { file in
      guard let text = try? String(contentsOfFile: pidDirectory + "/" + file, encoding: .utf8),
        let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
      else { return nil }
      return (String(file.dropLast(4)), pid, Self.isAlive(pid))
    }
  }

  static func isAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    // A zombie (exited, not yet reaped) is not alive.
    if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    {
      let state = stat[stat.index(close, offsetBy: 2)]
      return state != "Z"
    }
    return true
  }

  /// The last lines of a process's log, for error messages.
  func logTail(_ name: String, lines: Int = 5) -> String {
    let text = (try? String(contentsOfFile: logDirectory + "/\(name).log", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
  }

  /// SIGTERM, then SIGKILL after `grace`; removes pid files.
  func stopAll(grace: Double = 10) -> [String] {
    var stopped: [String] = []
    let running = processes()
    for p in running where p.isAlive { kill(p.pid, SIGTERM) }
    let deadline = Date().addingTimeInterval(grace)
    for p in running where p.isAlive {
      while Self.isAlive(p.pid) && Date() < deadline {
        var status: Int32 = 0
        _ = waitpid(p.pid, &status, WNOHANG)
        usleep(50_000)
      }
      if Self.isAlive(p.pid) { kill(p.pid, SIGKILL) }
      stopped.append(p.name)
    }
    for p in running { try? FileManager.default.removeItem(atPath: pidDirectory + "/\(p.name).pid") }
    return stopped
  }
}

extension DevCluster {
  /// One metadata server of a dev cluster: member id, process and data directory name, address.
  struct MetaSlot {
    var id: Int
    var name: String
    var address: String
  }

  /// Where the metadata servers of a dev cluster live: server 1 on `basePort` (chunk server N uses
  /// `basePort + N`, N ≤ 16), server K > 1 on `basePort + 18 + K`. A single server keeps the
  /// name and directory `meta` of the single-server topology.
  static func metaLayout(count: Int, basePort: Int) -> [MetaSlot] {
    guard count > 1 else { return [MetaSlot(id: 1, name: "meta", address: "127.0.0.1:\(basePort)")] }
    return (1...count).map { k in
      MetaSlot(id: k, name: "meta-\(k)", address: "127.0.0.1:\(k == 1 ? basePort : basePort + 18 + k)")
    }
  }
}
