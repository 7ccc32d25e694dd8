import CairnCore
import Foundation

/// The dev cluster's mount of volume `demo` (`cairn dev up --mount DIR`, by default `/vol` when run
/// as root with the default `--dir`). Its daemon is the `mount` process of the cluster; `dev down`
/// stops it first (SIGTERM: commit, then unmount) so the final commit still reaches the cluster.
enum DevMount {
  static let processName = "mount"

  /// Where `dev up` mounts `demo` when no `--mount` is given: `/vol`, only as root, only for the
  /// default data directory (tests run their clusters elsewhere), and only when `/vol` is free.
  static func defaultMountpoint(dataDirectory: String) -> String? {
    guard getuid() == 0, dataDirectory == ".cairn", !MountTable.isMounted("/vol") else { return nil }
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: "/vol", isDirectory: &isDir) {
      guard isDir.boolValue, ((try? FileManager.default.contentsOfDirectory(atPath: "/vol")) ?? ["x"]).isEmpty else {
        return nil
      }
      return "/vol"
    }
    return (try? FileManager.default.createDirectory(atPath: "/vol", withIntermediateDirectories: true)) != nil ? "/vol" : nil
  }

  static func start(cluster: DevCluster, meta: String, mountpoint: String) async throws(CairnError) {
    let path = URL(fileURLWithPath: mountpoint).standardizedFileURL.path
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
      throw CairnError(.ioError, "cannot create mountpoint '\(path)'")
    }
    let pid = try cluster.spawn(
      name: processName,
      arguments: [
        "mount", "demo", path, "--foreground", "--meta", meta, "--cache-dir", cluster.directory + "/mount-cache",
        "--metadata-cache-dir", cluster.directory + "/metadata-cache",
      ])
    try await MountProcess.waitMounted(path, pid: pid, logPath: cluster.logDirectory + "/\(processName).log")
  }

  /// Stops the mount daemon (it commits and unmounts) and waits for it, before the servers stop.
  static func stop(cluster: DevCluster) {
    guard let p = cluster.processes().first(where: { $0.name == processName }) else { return }
    if p.isAlive {
      kill(p.pid, SIGTERM)
      let deadline = Date().addingTimeInterval(60)
      while DevCluster.isAlive(p.pid) && Date() < deadline {
        var status: Int32 = 0
        _ = waitpid(p.pid, &status, WNOHANG)
        usleep(50_000)
      }
      if DevCluster.isAlive(p.pid) { kill(p.pid, SIGKILL) }
    }
    try? FileManager.default.removeItem(atPath: cluster.pidDirectory + "/\(processName).pid")
  }
}
