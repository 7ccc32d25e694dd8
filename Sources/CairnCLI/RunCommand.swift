import ArgumentParser
import CairnCore
import Foundation

/// `cairn run -v VOLUME:/vol -- COMMAND…`: runs a command the way a function container sees its
/// volumes: in a private mount namespace, each volume mounted at its path, committed on exit.
struct RunCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run", abstract: "Run a command with volumes mounted in a private mount namespace; commit on exit.",
    discussion: """
      Exit status: COMMAND's own status (128+N when it was killed by signal N; 127 when it could not
      be started), or 75 when a final commit failed; the changes then stay staged in the cache
      directory named in the message, and 'cairn mount VOLUME DIR --cache-dir THAT_DIR' commits them.
      """)

  /// Set in the re-executed child that already runs in the private namespace.
  static let namespaceEnvironment = "CAIRN_RUN_IN_NAMESPACE"
  static let commitFailedStatus: Int32 = 75

  @OptionGroup var client: ClientOptions
  @Option(name: [.customShort("v"), .customLong("volume")], help: "VOLUME:/PATH (repeatable).") var volumes: [String] = []
  @Flag(help: "Mount every volume read-only (nothing is committed).") var readOnly = false
  @Option(help: "Also commit every N seconds while the command runs.") var commitInterval: Double?
  @OptionGroup var degradedOptions: DegradedOptions
  @Argument(parsing: .captureForPassthrough, help: "The command, after '--'.") var command: [String] = []

  var program: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

  func parsedVolumes() throws -> [(volume: String, path: String)] {
    try volumes.map { spec in
      guard let colon = spec.firstIndex(of: ":") else { throw ValidationError("-v needs VOLUME:/PATH, got '\(spec)'") }
      let name = String(spec[..<colon])
      let path = String(spec[spec.index(after: colon)...])
      _ = try volumeName(name)
      guard path.hasPrefix("/"), path != "/" else { throw ValidationError("mount path '\(path)' must be absolute and not '/'") }
      return (name, URL(fileURLWithPath: path).standardizedFileURL.path)
    }
  }

  func validate() throws {
    guard !volumes.isEmpty else { throw ValidationError("give at least one -v VOLUME:/PATH") }
    guard !program.isEmpty else { throw ValidationError("give the command to run after '--'") }
    let parsed = try parsedVolumes()
    guard Set(parsed.map(\.path)).count == parsed.count else { throw ValidationError("two volumes share a mount path") }
  }

  func run() async throws {
    if ProcessInfo.processInfo.environment[Self.namespaceEnvironment] != "1" {
      try enterNamespace()
    }
    var status: Int32 = 0
    try await reporting { () throws(CairnError) in status = try await runInNamespace() }
    if status != 0 { throw ExitCode(status) }
  }

  /// Re-executes this command under `unshare --mount --propagation private` (a multithreaded
  /// process cannot unshare its own mount namespace).
  private func enterNamespace() throws {
    guard getuid() == 0 else {
      Terminal.error("'cairn run' needs root (it creates a mount namespace and FUSE mounts)")
      throw ExitCode(ExitStatus.failure)
    }
    setenv(Self.namespaceEnvironment, "1", 1)
    let args = ["unshare", "--mount", "--propagation", "private", "--", DevCluster.executable()]
      + Array(CommandLine.arguments.dropFirst())
    let argv = args.map { strdup($0) } + [nil]
    execv("/usr/bin/unshare", argv)
    Terminal.error("cannot run /usr/bin/unshare: \(String(cString: strerror(errno)))")
    throw ExitCode(ExitStatus.failure)
  }

  private func runInNamespace() async throws(CairnError) -> Int32 {
    let specs: [(volume: String, path: String)]
    do { specs = try parsedVolumes() } catch { throw CairnError(.invalidArgument, "\(error)") }
    let base = getuid() == 0 ? "/var/lib/cairn/run" : NSHomeDirectory() + "/.cache/cairn/run"
    var daemons: [(volume: String, path: String, cache: String, pid: pid_t)] = []
    let meta = try client.resolveAddresses().map { "\($0)" }.joined(separator: ",")
    func stopAll() async -> [(String, String, Int32)] {
      var results: [(String, String, Int32)] = []
      for d in daemons {
        kill(d.pid, SIGTERM)
        results.append((d.volume, d.cache, await Self.wait(d.pid)))
      }
      return results
    }
    for spec in specs {
      let cache = base + "/\(spec.volume)-\(UUID().uuidString.prefix(8).lowercased())"
      do {
        try FileManager.default.createDirectory(atPath: spec.path, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
      } catch {
        _ = await stopAll()
        throw CairnError(.ioError, "cannot create '\(spec.path)' or '\(cache)': \(error.localizedDescription)")
      }
      // A mount the host has at this path (e.g. the dev cluster's /vol) is only hidden in this
      // private namespace; the host keeps it.
      if MountTable.isMounted(spec.path) { _ = umount2(spec.path, Int32(MNT_DETACH)) }
      var arguments = ["mount", spec.volume, spec.path, "--foreground", "--cache-dir", cache, "--meta", meta]
      if readOnly { arguments.append("--read-only") }
      if let commitInterval { arguments += ["--commit-interval", "\(commitInterval)"] }
      arguments += degradedOptions.mountArguments
      do throws(CairnError) {
        let pid = try MountProcess.spawn(arguments: arguments, logPath: cache + "/mount.log", newSession: true)
        daemons.append((spec.volume, spec.path, cache, pid))
        try await MountProcess.waitMounted(spec.path, pid: pid, logPath: cache + "/mount.log")
      } catch {
        _ = await stopAll()
        throw error
      }
    }
    let status = await Self.runProgram(program)
    var failed: [String] = []
    for (volume, cache, daemonStatus) in await stopAll() {
      if daemonStatus == 0 {
        try? FileManager.default.removeItem(atPath: cache)
      } else {
        failed.append("'\(volume)' (changes kept in \(cache); log \(cache)/mount.log)")
      }
    }
    if !failed.isEmpty {
      Terminal.error("the final commit failed for \(failed.joined(separator: ", ")); the command exited with \(status)")
      return Self.commitFailedStatus
    }
    return status
  }

  /// Runs the program with this process's stdio and returns its exit status.
  static func runProgram(_ program: [String]) async -> Int32 {
    let argv = program.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, program[0], nil, nil, argv, environ)
    guard rc == 0 else {
      Terminal.error("cannot run '\(program[0])': \(String(cString: strerror(rc)))")
      return 127
    }
    return await wait(pid)
  }

  /// Waits for a child and returns its exit status (128+N when killed by signal N).
  static func wait(_ pid: pid_t) async -> Int32 {
    var status: Int32 = 0
    while true {
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid { break }
      if r < 0 && errno != EINTR { return 1 }
      try? await Task.sleep(for: .milliseconds(20))
    }
    if status & 0x7f == 0 { return (status >> 8) & 0xff }
    return 128 + (status & 0x7f)
  }
}
