import ArgumentParser
import CairnClient
import CairnCore
import Foundation

/// `cairn volume get`: downloads a file or a directory tree, verifying every block.
struct VolumeGet: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "get",
    abstract: "Download a file or directory from a volume ('-' writes a file to stdout).",
    discussion: """
      Every block is checked against its hash and every file against its length; a short or \
      corrupt read is an error and never leaves a truncated file behind (files are written to a \
      temporary name and renamed when complete).
      """)
  @OptionGroup var client: ClientOptions
  @Argument(help: "Volume name.") var name: String
  @Argument(help: "Path in the volume.") var remote: String
  @Argument(help: "Local destination, or - for stdout.") var local: String?
  @Flag(name: .shortAndLong, help: "Overwrite existing local files.") var force = false
  @Option(help: "Read this version instead of the head.") var version: UInt64?
  @Option(help: "Files downloaded in parallel.") var jobs: Int = 4

  func validate() throws {
    _ = try volumeName(name)
    _ = try volumePath(remote)
    guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64") }
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let c = try client.makeClient()
      let volume = try VolumeName(name)
      let source = try VolumePath(remote)
      let root = try await c.lookup(volume, source, version: version)
      let pinned = try await c.volume(volume)
      let readVersion = version ?? pinned.headVersion
      if local == "-" {
        guard root.entry.kind == .file else { throw CairnError(.isADirectory, "'\(source)' is not a file; cannot write it to stdout") }
        try await c.download(root.entry, path: source, to: STDOUT_FILENO)
        return
      }
      let leaf = source.isRoot ? name : source.name
      var destination = local ?? leaf
      var isDir: ObjCBool = false
      if FileManager.default.fileExists(atPath: destination, isDirectory: &isDir), isDir.boolValue,
        root.entry.kind != .directory || local != nil
      {
        destination += "/" + leaf
      }
      var items: [(DirectoryEntry, String)] = [(root, destination)]
      if root.entry.kind == .directory {
        for child in try await c.walk(volume, source, version: readVersion) {
          let relative = String(child.path.rawValue.dropFirst(source.isRoot ? 1 : source.rawValue.count + 1))
          items.append((child, destination + "/" + relative))
        }
      }
      if !force {
        let existing = items.filter { $0.0.entry.kind != .directory && FileManager.default.fileExists(atPath: $0.1) }.map(\.1)
        if !existing.isEmpty {
          throw CairnError(.alreadyExists, "local file(s) exist (use --force to overwrite)", details: existing)
        }
      }
      let total = items.reduce(UInt64(0)) { $0 + ($1.0.entry.kind == .file ? $1.0.entry.size : 0) }
      let progress = Progress(label: "downloading", total: total)
      for (entry, path) in items where entry.entry.kind == .directory {
        do {
          try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
          throw CairnError(.ioError, "cannot create directory '\(path)': \(error.localizedDescription)")
        }
      }
      for (entry, path) in items where entry.entry.kind == .symlink {
        try? FileManager.default.removeItem(atPath: path)
        guard symlink(entry.entry.symlinkTarget, path) == 0 else {
          throw CairnError(.ioError, "cannot create symlink '\(path)': \(String(cString: strerror(errno)))")
        }
      }
      let files = items.filter { $0.0.entry.kind == .file }
      var count = 0
      try await withThrowingTaskGroupLimited(files, limit: jobs) { (item) async throws(CairnError) in
        try await Self.downloadFile(c, item.0, to: item.1, progress: progress)
      } collect: { _ in count += 1 }
      progress.finish()
      if root.entry.kind == .directory || local != nil {
        Terminal.note("downloaded \(count) file(s), \(Format.bytes(total)) from '\(name)' version \(readVersion) to '\(destination)'")
      }
    }
  }

  /// Writes to `path.cairn-partial` and renames into place only once every byte is verified.
  static func downloadFile(_ c: CairnClient, _ entry: DirectoryEntry, to path: String, progress: Progress)
    async throws(CairnError)
  {
    let temporary = path + ".cairn-partial"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      throw CairnError(.ioError, "cannot create '\(temporary)': \(String(cString: strerror(errno)))")
    }
    do throws(CairnError) {
      try await c.download(entry.entry, path: entry.path, to: fd, progress: { progress.add($0) })
      guard fsync(fd) == 0 else { throw CairnError(.ioError, "cannot flush '\(temporary)'") }
      close(fd)
    } catch {
      close(fd)
      unlink(temporary)
      throw error
    }
    let mode = mode_t(entry.entry.attributes.mode & 0o7777)
    chmod(temporary, mode)
    let mtime = entry.entry.attributes.mtimeNanos
    var times = [
      timespec(tv_sec: Int(mtime / 1_000_000_000), tv_nsec: Int(mtime % 1_000_000_000)),
      timespec(tv_sec: Int(mtime / 1_000_000_000), tv_nsec: Int(mtime % 1_000_000_000)),
    ]
    utimensat(AT_FDCWD, temporary, &times, 0)
    guard rename(temporary, path) == 0 else {
      unlink(temporary)
      throw CairnError(.ioError, "cannot rename '\(temporary)' to '\(path)': \(String(cString: strerror(errno)))")
    }
  }
}
