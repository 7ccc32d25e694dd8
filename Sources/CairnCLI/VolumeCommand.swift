import ArgumentParser
import CairnClient
import CairnCore
import Foundation

/// `cairn volume …`: everything `modal volume` offers, plus versions.
struct VolumeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "volume",
    abstract: "Create, inspect and change volumes and their versions.",
    subcommands: [
      VolumeCreate.self, VolumeList.self, VolumeLs.self, VolumePut.self, VolumeGet.self, VolumeRm.self, VolumeCp.self,
      VolumeRename.self, VolumeDelete.self, VolumeHistory.self, VolumeDiff.self, VolumeRollback.self, VolumeFork.self,
    ])
}

struct VolumeCreate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "create", abstract: "Create an empty volume.")
  @OptionGroup var client: ClientOptions
  @Argument(help: "Volume name: [a-z0-9][a-z0-9._-]{0,62}.") var name: String
  @Option(help: "Block size in bytes (power of two, 64 KiB to 64 MiB).") var blockSize: UInt32 = UInt32(Limits.defaultBlockBytes)
  @Option(help: "Copies of each block (1-7).") var replicas: UInt8 = 3
  @Option(help: "Versions to keep.") var retain: UInt32 = UInt32(Limits.defaultRetainedVersions)
  @Flag(help: "Make strict (compare-and-set) the default commit mode.") var strict = false

  func validate() throws {
    _ = try volumeName(name)
    let settings = VolumeSettings(blockBytes: blockSize, replicationFactor: replicas, retainedVersions: retain)
    do { try settings.validate() } catch { throw ValidationError(error.message) }
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let c = try client.makeClient()
      let settings = VolumeSettings(
        blockBytes: blockSize, replicationFactor: replicas, defaultCommitMode: strict ? .strict : .merge,
        retainedVersions: retain)
      let info = try await c.createVolume(try VolumeName(name), settings: settings)
      Terminal.out("created volume '\(info.name)' (version \(info.headVersion))")
    }
  }
}

struct VolumeList: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "list", abstract: "List volumes.")
  @OptionGroup var client: ClientOptions
  @Flag(help: "Print JSON.") var json = false

  struct Row: Encodable {
    var name: String
    var headVersion: UInt64
    var files: UInt64
    var bytes: UInt64
    var createdAt: String
    var updatedAt: String
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let volumes = try await client.makeClient().volumes()
      if json {
        Terminal.json(
          volumes.map {
            Row(
              name: $0.name.rawValue, headVersion: $0.headVersion, files: $0.fileCount, bytes: $0.totalBytes,
              createdAt: Format.iso($0.createdNanos), updatedAt: Format.iso($0.updatedNanos))
          })
      } else {
        Terminal.table(
          ["NAME", "VERSION", "FILES", "SIZE", "UPDATED (UTC)"],
          volumes.map {
            [$0.name.rawValue, "\($0.headVersion)", "\($0.fileCount)", Format.bytes($0.totalBytes), Format.time($0.updatedNanos)]
          })
      }
    }
  }
}

struct VolumeLs: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a directory of a volume.")
  @OptionGroup var client: ClientOptions
  @Argument(help: "Volume name.") var name: String
  @Argument(help: "Path inside the volume.") var path: String = "/"
  @Option(help: "Read this version instead of the head.") var version: UInt64?
  @Flag(help: "Print JSON.") var json = false

  struct Row: Encodable {
    var path: String
    var type: String
    var size: UInt64
    var mtime: String
    var mode: String
    var target: String?
  }

  func validate() throws {
    _ = try volumeName(name)
    _ = try volumePath(path)
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let c = try client.makeClient()
      let volume = try VolumeName(name)
      let target = try VolumePath(path)
      let entry = try await c.lookup(volume, target, version: version)
      let entries = entry.entry.kind == .directory ? try await c.list(volume, target, version: version).entries : [entry]
      let rows = entries.map {
        Row(
          path: $0.path.rawValue, type: Format.kind($0.entry.kind), size: $0.entry.size,
          mtime: Format.iso($0.entry.attributes.mtimeNanos), mode: String($0.entry.attributes.mode & 0o7777, radix: 8),
          target: $0.entry.kind == .symlink ? $0.entry.symlinkTarget : nil)
      }
      if json {
        Terminal.json(rows)
      } else {
        Terminal.table(
          ["PATH", "TYPE", "SIZE", "MTIME (UTC)"],
          entries.map {
            [
              $0.path.rawValue + ($0.entry.kind == .directory ? "/" : "")
                + ($0.entry.kind == .symlink ? " -> \($0.entry.symlinkTarget)" : ""),
              Format.kind($0.entry.kind), $0.entry.kind == .file ? Format.bytes($0.entry.size) : "-",
              Format.time($0.entry.attributes.mtimeNanos),
            ]
          })
      }
    }
  }
}

struct VolumeRm: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rm", abstract: "Remove a file or directory (one commit).")
  @OptionGroup var client: ClientOptions
  @Argument(help: "Volume name.") var name: String
  @Argument(help: "Path to remove.") var path: String
  @Flag(name: .shortAndLong, help: "Remove directories and their contents.") var recursive = false

  func validate() throws {
    _ = try volumeName(name)
    if try volumePath(path).isRoot && !recursive { throw ValidationError("refusing to remove the root without -r") }
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let c = try client.makeClient()
      let volume = try VolumeName(name)
      let target = try VolumePath(path)
      let entry = try await c.lookup(volume, target)
      if entry.entry.kind == .directory && !recursive {
        throw CairnError(.isADirectory, "'\(target)' is a directory (use -r to remove it and its contents)")
      }
      let r = try await c.commit(volume, changes: [.delete(target, recursive: recursive)], message: "rm \(target)")
      Terminal.out("removed '\(target)' (version \(r.version))")
    }
  }
}

struct VolumeCp: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cp", abstract: "Copy files or directories inside a volume, sharing blocks (one commit).")
  @OptionGroup var client: ClientOptions
  @Argument(help: "Volume name.") var name: String
  @Argument(help: "Source paths, then the destination.") var paths: [String]
  @Flag(name: .shortAndLong, help: "Copy directories recursively.") var recursive = false
  @Flag(help: "Replace an existing destination file.") var force = false

  func validate() throws {
    _ = try volumeName(name)
    guard paths.count >= 2 else { throw ValidationError("cp needs at least one source and a destination") }
    for p in paths { _ = try volumePath(p) }
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let c = try client.makeClient()
      let volume = try VolumeName(name)
      let head = try await c.volume(volume).headVersion
      let sources = try paths.dropLast().map { s throws(CairnError) in try VolumePath(s) }
      var destination = try VolumePath(paths[paths.count - 1])
      let destEntry = try? await c.lookup(volume, destination, version: head)
      let intoDirectory = destEntry?.entry.kind == .directory
      if sources.count > 1 && !intoDirectory {
        throw CairnError(.notADirectory, "destination '\(destination)' must be an existing directory for several sources")
      }
      var changes: [Change] = []
      for source in sources {
        let entry = try await c.lookup(volume, source, version: head)
        if entry.entry.kind == .directory && !recursive {
          throw CairnError(.isADirectory, "'\(source)' is a directory (use -r)")
        }
        let target = intoDirectory ? try destination.appending(source.name) : destination
        changes.append(.copy(from: source, to: target, replace: force))
      }
      destination = changes.count == 1 ? changes[0].target : destination
      let r = try await c.commit(volume, changes: changes, baseVersion: head, message: "cp to \(destination)")
      Terminal.out("copied \(sources.count) path(s) to '\(destination)' (version \(r.version))")
    }
  }
}

struct VolumeRename: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "rename", abstract: "Rename a volume.")
  @OptionGroup var client: ClientOptions
  @Argument(help: "Current name.") var old: String
  @Argument(help: "New name.") var new: String

  func validate() throws {
    _ = try volumeName(old)
    _ = try volumeName(new)
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let info = try await client.makeClient().renameVolume(try VolumeName(old), to: try VolumeName(new))
      Terminal.out("renamed volume '\(old)' to '\(info.name)'")
    }
  }
}

struct VolumeDelete: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "delete", abstract: "Delete a volume and all its versions.")
  @OptionGroup var client: ClientOptions
  @Argument(help: "Volume name.") var name: String
  @Flag(name: .shortAndLong, help: "Do not ask for confirmation.") var yes = false
  @Flag(help: "Succeed when the volume does not exist.") var allowMissing = false

  func validate() throws { _ = try volumeName(name) }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let c = try client.makeClient()
      let volume = try VolumeName(name)
      do throws(CairnError) {
        let info = try await c.volume(volume)
        if !yes {
          guard isatty(STDIN_FILENO) == 1 else {
            throw CairnError(.invalidArgument, "refusing to delete volume '\(name)' without --yes (stdin is not a terminal)")
          }
          Terminal.note(
            "Delete volume '\(name)' (\(info.fileCount) files, \(Format.bytes(info.totalBytes)), \(info.headVersion - info.oldestVersion + 1) versions)? Type the name to confirm:")
          guard readLine()?.trimmingCharacters(in: .whitespaces) == name else {
            throw CairnError(.invalidArgument, "confirmation did not match; volume '\(name)' not deleted")
          }
        }
        try await c.deleteVolume(volume)
        Terminal.out("deleted volume '\(name)'")
      } catch {
        guard error.code == .notFound, allowMissing else { throw error }
        Terminal.out("volume '\(name)' does not exist")
      }
    }
  }
}

struct VolumeHistory: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "history", abstract: "Show a volume's versions, newest first.")
  @OptionGroup var client: ClientOptions
  @Argument(help: "Volume name.") var name: String
  @Option(help: "Most versions to show.") var limit: Int = 100
  @Flag(help: "Print JSON.") var json = false

  struct Row: Encodable {
    var version: UInt64
    var parent: UInt64
    var author: String
    var time: String
    var message: String
    var changedPaths: UInt64
    var files: UInt64
    var bytes: UInt64
  }

  func validate() throws {
    _ = try volumeName(name)
    guard limit > 0 else { throw ValidationError("--limit must be positive") }
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let versions = try await client.makeClient().history(try VolumeName(name), limit: limit)
      if json {
        Terminal.json(
          versions.map {
            Row(
              version: $0.version, parent: $0.parent, author: $0.author, time: Format.iso($0.timeNanos), message: $0.message,
              changedPaths: $0.changedPaths, files: $0.fileCount, bytes: $0.totalBytes)
          })
      } else {
        Terminal.table(
          ["VERSION", "TIME (UTC)", "CHANGED", "FILES", "SIZE", "AUTHOR", "MESSAGE"],
          versions.map {
            [
              "\($0.version)", Format.time($0.timeNanos), "\($0.changedPaths)", "\($0.fileCount)", Format.bytes($0.totalBytes),
              $0.author, $0.message,
            ]
          })
      }
    }
  }
}

struct VolumeDiff: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "diff", abstract: "Show paths that differ between two versions.")
  @OptionGroup var client: ClientOptions
  @Argument(help: "Volume name.") var name: String
  @Argument(help: "First version.") var from: UInt64
  @Argument(help: "Second version.") var to: UInt64
  @Flag(help: "Print JSON.") var json = false

  struct Row: Encodable {
    var path: String
    var change: String
    var oldSize: UInt64
    var newSize: UInt64
  }

  func validate() throws { _ = try volumeName(name) }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let diff = try await client.makeClient().diff(try VolumeName(name), from: from, to: to)
      func word(_ k: DiffEntry.Kind) -> String { k == .added ? "added" : k == .removed ? "removed" : "modified" }
      if json {
        Terminal.json(diff.map { Row(path: $0.path.rawValue, change: word($0.kind), oldSize: $0.oldSize, newSize: $0.newSize) })
      } else {
        for d in diff {
          let mark = d.kind == .added ? "+" : d.kind == .removed ? "-" : "M"
          Terminal.out("\(mark) \(d.path)")
        }
        if diff.isEmpty { Terminal.note("versions \(from) and \(to) have the same tree") }
      }
    }
  }
}

struct VolumeRollback: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rollback", abstract: "Make a new version whose tree equals an older version.")
  @OptionGroup var client: ClientOptions
  @Argument(help: "Volume name.") var name: String
  @Argument(help: "Version to restore.") var version: UInt64

  func validate() throws { _ = try volumeName(name) }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let r = try await client.makeClient().rollback(try VolumeName(name), to: version)
      Terminal.out("rolled '\(name)' back to version \(version) as version \(r.version)")
    }
  }
}

struct VolumeFork: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fork", abstract: "Create a new volume from a version, sharing blocks (no data is copied).")
  @OptionGroup var client: ClientOptions
  @Argument(help: "Source volume.") var name: String
  @Argument(help: "New volume name.") var new: String
  @Option(help: "Version to fork (default: head).") var version: UInt64?

  func validate() throws {
    _ = try volumeName(name)
    _ = try volumeName(new)
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let info = try await client.makeClient().fork(try VolumeName(name), version: version, newName: try VolumeName(new))
      Terminal.out("forked '\(name)' into '\(info.name)' (\(info.fileCount) files, \(Format.bytes(info.totalBytes)))")
    }
  }
}
