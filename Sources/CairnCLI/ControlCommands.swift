import ArgumentParser
import CairnCore
import CairnVFS
import Foundation

/// Talks to a mount daemon through its control socket, found from the mountpoint: reading
/// `MOUNTPOINT/.cairn/control` returns the mount's status, which names the socket.
enum ControlClient {
  static func socketPath(for mountpoint: String) throws(CairnError) -> String {
    let absolute = URL(fileURLWithPath: mountpoint).standardizedFileURL.path
    guard MountTable.isMounted(absolute) else { throw CairnError(.notFound, "'\(absolute)' is not mounted") }
    guard let data = FileManager.default.contents(atPath: absolute + "/.cairn/control"),
      let status = try? JSONDecoder().decode(MountStatus.self, from: data)
    else {
      throw CairnError(.unavailable, "'\(absolute)' is not a Cairn mount, or its daemon does not answer")
    }
    return status.controlSocket
  }

  static func call(_ mountpoint: String, _ request: ControlRequest) throws(CairnError) -> ControlResponse {
    let path = try socketPath(for: mountpoint)
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CairnError(.ioError, "cannot create a socket") }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw CairnError(.invalidArgument, "socket path too long") }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (i, b) in bytes.enumerated() { raw[i] = b }
      raw[bytes.count] = 0
    }
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard connected == 0 else { throw CairnError(.unavailable, "cannot reach the mount daemon at '\(path)'") }
    var data = (try? JSONEncoder().encode(request)) ?? Data()
    data.append(UInt8(ascii: "\n"))
    _ = data.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
    var reply = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = read(fd, &chunk, chunk.count)
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      reply += chunk[0..<n]
    }
    guard let response = try? JSONDecoder().decode(ControlResponse.self, from: Data(reply)) else {
      throw CairnError(.protocolError, "the mount daemon gave no answer (did it exit?)")
    }
    return response
  }
}

struct CommitCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "commit", abstract: "Commit a mount's staged changes as a new version.")
  @Argument(help: "Mountpoint.") var mountpoint: String
  @Option(name: .shortAndLong, help: "Commit message.") var message: String = ""
  @Flag(help: "Compare-and-set: fail with the conflicting paths if any changed since the pinned version.")
  var strict = false
  @Option(
    help: "Decide about a queued commit the cluster refused: 'drop' it, or resend it in 'merge' mode; then continue the queue.")
  var resolveQueued: String?

  func validate() throws {
    if let resolveQueued, QueueResolution(rawValue: resolveQueued) == nil {
      throw ValidationError("--resolve-queued must be 'drop' or 'merge'")
    }
  }

  func run() async throws {
    var isQueued = false
    try await reporting { () throws(CairnError) in
      if let resolveQueued {
        let r = try ControlClient.call(mountpoint, ControlRequest(command: .resolveQueue, resolution: resolveQueued))
        if let error = r.cairnError { throw error }
        Terminal.out(
          "resolved: queued commit \(r.key ?? "") (\(resolveQueued)); \(r.queuedCommits ?? 0) commit(s) still queued; \(mountpoint) is at version \(r.version ?? 0)")
        isQueued = r.isQueued == true
        return
      }
      let r = try ControlClient.call(mountpoint, ControlRequest(command: .commit, message: message, isStrict: strict))
      if let error = r.cairnError { throw error }
      if r.isQueued == true {
        isQueued = true
        Terminal.out(
          "queued: the metadata service is unreachable; commit \(r.key ?? "") is stored on this node (\(r.queuedCommits ?? 0) in the queue) and is applied in order when it answers ('cairn status \(mountpoint)')")
      } else {
        Terminal.out("committed: \(mountpoint) is at version \(r.version ?? 0)")
      }
    }
    if isQueued { throw ExitCode(ExitStatus.queued) }
  }
}

struct ReloadCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reload", abstract: "Move a mount to the head (or --version N); staged changes stay on top.")
  @Argument(help: "Mountpoint.") var mountpoint: String
  @Option(help: "Version to move to (default: the head).") var version: UInt64?
  @Flag(help: "Refuse (listing the conflicts) when staged changes touch paths changed in between.") var strict = false

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let r = try ControlClient.call(mountpoint, ControlRequest(command: .reload, isStrict: strict, version: version))
      if let error = r.cairnError { throw error }
      Terminal.out("reloaded: \(mountpoint) is at version \(r.version ?? 0)")
    }
  }
}

struct StatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a mount's state.")
  @Argument(help: "Mountpoint.") var mountpoint: String
  @Flag(help: "Print JSON.") var json = false

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let r = try ControlClient.call(mountpoint, ControlRequest(command: .status))
      if let error = r.cairnError { throw error }
      guard let s = r.status else { throw CairnError(.protocolError, "no status in the daemon's answer") }
      if json {
        Terminal.json(s)
        return
      }
      Terminal.table(
        ["FIELD", "VALUE"],
        [
          ["volume", s.volume], ["pinned version", "\(s.pinnedVersion)"],
          ["head version", s.headVersion.map { "\($0)" } ?? "unknown"],
          ["metadata", Self.connection(s)],
          ["degraded mode", s.isDegradedModeEnabled == false ? "off" : "on"],
          ["queued commits", "\(s.queuedCommits ?? 0)" + (s.queueError.map { " (WAITING: \($0))" } ?? "")],
          ["last error", s.lastError ?? "none"],
          ["version source", s.versionSource ?? "metadata service"],
          ["mode", (s.isReadOnly ? "read-only, " : "") + s.commitMode],
          ["staged", "\(s.stagedChanges) change(s), \(s.stagedFiles) file(s), \(Format.bytes(s.stagedBytes))"],
          ["last commit", s.lastCommitVersion.map { "version \($0) at \(s.lastCommitTime ?? "")" } ?? "none"],
          ["last commit error", s.lastCommitError ?? "none"], ["cache", s.cacheDirectory],
        ])
    }
  }
}

extension StatusCommand {
  static func connection(_ s: MountStatus) -> String {
    switch s.connection {
    case "degraded": return "DEGRADED since \(s.degradedSince ?? "?") (metadata service unreachable)"
    case "unreachable": return "UNREACHABLE"
    case "connected": return "connected"
    default: return s.isMetadataReachable ? "reachable" : "UNREACHABLE"
    }
  }
}

struct UnmountCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "unmount", abstract: "Commit a mount's staged changes, then unmount it.")
  @Argument(help: "Mountpoint.") var mountpoint: String
  @Flag(help: "Unmount even if the daemon does not answer (staged changes stay in its cache directory).")
  var force = false

  func run() async throws {
    var isQueued = false
    try await reporting { () throws(CairnError) in
      let absolute = URL(fileURLWithPath: mountpoint).standardizedFileURL.path
      do throws(CairnError) {
        let r = try ControlClient.call(absolute, ControlRequest(command: .unmount))
        if let error = r.cairnError {
          throw CairnError(error.code, "not unmounted: \(error.message)", details: error.details)
        }
        if r.isQueued == true {
          isQueued = true
          Terminal.note(
            "the metadata service is unreachable: \(r.queuedCommits ?? 0) commit(s) stay queued in the mount's cache directory; the next mount with that --cache-dir applies them")
        }
      } catch {
        guard force || error.code == .unavailable || error.code == .protocolError, MountTable.isMounted(absolute) else {
          throw error
        }
        Terminal.note("the mount daemon does not answer (\(error.message)); unmounting anyway")
        if ProcessRunnerLite.run("/usr/bin/fusermount3", ["-u", absolute]) != 0 {
          _ = ProcessRunnerLite.run("/usr/bin/umount", ["-l", absolute])
        }
      }
      let deadline = Date().addingTimeInterval(30)
      while MountTable.isMounted(absolute) && Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
      guard !MountTable.isMounted(absolute) else { throw CairnError(.timeout, "'\(absolute)' is still mounted") }
      Terminal.out("unmounted \(absolute)")
    }
    if isQueued { throw ExitCode(ExitStatus.queued) }
  }
}

/// Runs a helper program and returns its exit status.
enum ProcessRunnerLite {
  static func run(_ path: String, _ arguments: [String]) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return 127 }
    p.waitUntilExit()
    return p.terminationStatus
  }
}
