import ArgumentParser
import CairnClient
import CairnCore
import Foundation

/// `cairn volume put`: uploads a file or a directory tree as one atomic commit.
struct VolumePut: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "put",
    abstract: "Upload a local file or directory into a volume (one commit).",
    discussion: """
      A file goes to REMOTE (default: /NAME-OF-FILE); when REMOTE ends with '/' or is an existing \
      directory, the file goes inside it. A directory is uploaded recursively: its contents go under \
      REMOTE (default: /NAME-OF-DIRECTORY). Only blocks the cluster does not already hold are sent. \
      Existing files are not overwritten without --force.
      """)
  @OptionGroup var client: ClientOptions
  @Argument(help: "Volume name.") var name: String
  @Argument(help: "Local file or directory.") var local: String
  @Argument(help: "Destination path in the volume.") var remote: String?
  @Flag(name: .shortAndLong, help: "Overwrite existing files.") var force = false
  @Option(help: "Files uploaded in parallel.") var jobs: Int = 4
  @Option(name: .shortAndLong, help: "Commit message.") var message: String?

  func validate() throws {
    _ = try volumeName(name)
    if let remote { _ = try volumePath(remote) }
    guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64") }
  }

  struct LocalItem: Sendable {
    var localPath: String
    var remotePath: VolumePath
    var kind: EntryKind
    var attributes: Attributes
    var size: UInt64
    var linkTarget: String
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let c = try client.makeClient()
      let volume = try VolumeName(name)
      let info = try await c.volume(volume)
      let head = info.headVersion
      guard let rootStat = LocalFiles.lstat(local) else {
        throw CairnError(.notFound, "local path '\(local)' does not exist")
      }
      let baseName = URL(fileURLWithPath: local).standardizedFileURL.lastPathComponent
      var items: [LocalItem] = []
      if LocalFiles.isDirectory(rootStat) {
        let destination: VolumePath
        if let remote { destination = try VolumePath(remote) } else { destination = try VolumePath.root.appending(baseName) }
        items = try LocalFiles.walk(local, into: destination)
      } else {
        var destination: VolumePath
        if let remote {
          destination = try VolumePath(remote)
          let existing = try? await c.lookup(volume, destination, version: head)
          if remote.hasSuffix("/") || existing?.entry.kind == .directory {
            destination = try destination.appending(baseName)
          }
        } else {
          destination = try VolumePath.root.appending(baseName)
        }
        items = [try LocalFiles.item(local, stat: rootStat, remote: destination)]
      }
      // Refuse to overwrite unless --force: one lookup per file.
      var conflicts: [String] = []
      for item in items where item.kind != .directory {
        if let existing = try? await c.lookup(volume, item.remotePath, version: head) {
          if existing.entry.kind == .directory {
            throw CairnError(.isADirectory, "'\(item.remotePath)' is a directory in volume '\(name)'")
          }
          if !force { conflicts.append(item.remotePath.rawValue) }
        }
        if conflicts.count >= 20 { break }
      }
      if !conflicts.isEmpty {
        throw CairnError(.alreadyExists, "already in volume '\(name)' (use --force to overwrite)", details: conflicts)
      }
      let totalBytes = items.reduce(UInt64(0)) { $0 + $1.size }
      let progress = Progress(label: "uploading", total: totalBytes)
      let blockBytes = Int(info.settings.blockBytes)
      let replicas = Int(info.settings.replicationFactor)
      let files = items.enumerated().filter { $0.element.kind == .file }
      var manifests: [Int: Manifest] = [:]
      var uploaded = 0
      var skipped = 0
      var sentBytes = 0
      try await withThrowingTaskGroupLimited(files, limit: jobs) { (index, item) async throws(CairnError) in
        let (manifest, stats) = try await c.uploadFile(
          at: item.localPath, blockBytes: blockBytes, replicas: replicas, progress: { progress.add($0) })
        return (index, manifest, stats)
      } collect: { (result: (Int, Manifest, BlockTransfer.UploadStats)) in
        manifests[result.0] = result.1
        uploaded += result.2.blocksUploaded
        skipped += result.2.blocksSkipped
        sentBytes += result.2.bytesUploaded
      }
      progress.finish()
      var changes: [Change] = []
      for (index, item) in items.enumerated() {
        switch item.kind {
        case .directory: changes.append(.put(item.remotePath, .directory(item.attributes)))
        case .symlink: changes.append(.put(item.remotePath, .symlink(target: item.linkTarget, item.attributes)))
        case .file:
          guard let manifest = manifests[index] else { throw CairnError(.internalError, "missing manifest") }
          guard manifest.size == item.size else {
            throw CairnError(.ioError, "'\(item.localPath)' changed size while it was uploaded; nothing was committed")
          }
          changes.append(.put(item.remotePath, .file(manifest, item.attributes)))
        }
      }
      let result = try await commitReuploading(
        c, volume, changes: changes, baseVersion: head, message: message ?? "put \(items.first?.remotePath.rawValue ?? "")",
        sources: items.enumerated().compactMap { i, item in manifests[i].map { (item.localPath, $0) } },
        blockBytes: blockBytes, replicas: replicas)
      Terminal.out(
        "uploaded \(files.count) file(s), \(Format.bytes(totalBytes)) to '\(name)' as version \(result.version) (\(uploaded) block(s) sent, \(skipped) already stored)"
      )
    }
  }
}

/// Runs `body` over `items` with at most `limit` at once, feeding results to `collect` in the
/// caller's context; the first error cancels the rest and is rethrown.
func withThrowingTaskGroupLimited<Item: Sendable, Output: Sendable>(
  _ items: [Item], limit: Int, _ body: @escaping @Sendable (Item) async throws(CairnError) -> Output,
  collect: (Output) -> Void
) async throws(CairnError) {
  var failure: CairnError?
  await withTaskGroup(of: Result<Output, CairnError>.self) { group in
    var iterator = items.makeIterator()
    var running = 0
    func addNext() -> Bool {
      guard let item = iterator.next() else { return false }
      group.addTask {
        // Plain do/catch: typed-throws catch inside task-group closures was miscompiled in release
        // builds (results went missing); see FileTransfer.download.
        do { return .success(try await body(item)) } catch { return .failure(CairnError.wrapping(error)) }
      }
      return true
    }
    while running < limit, addNext() { running += 1 }
    while let result = await group.next() {
      running -= 1
      switch result {
      case .success(let output): collect(output)
      case .failure(let error):
        if failure == nil { failure = error }
        group.cancelAll()
      }
      if failure == nil, addNext() { running += 1 }
    }
  }
  if let failure { throw failure }
}

/// Reading the local file tree.
enum LocalFiles {
  static func lstat(_ path: String) -> stat? {
    var st = stat()
    return Glibc.lstat(path, &st) == 0 ? st : nil
  }

  static func isDirectory(_ st: stat) -> Bool { st.st_mode & S_IFMT == S_IFDIR }

  static func attributes(_ st: stat) -> Attributes {
    Attributes(
      mode: UInt32(st.st_mode), uid: st.st_uid, gid: st.st_gid,
      mtimeNanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
      ctimeNanos: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
  }

  static func item(_ path: String, stat st: stat, remote: VolumePath) throws(CairnError) -> VolumePut.LocalItem {
    switch st.st_mode & S_IFMT {
    case S_IFREG:
      return .init(localPath: path, remotePath: remote, kind: .file, attributes: attributes(st), size: UInt64(st.st_size), linkTarget: "")
    case S_IFDIR:
      return .init(localPath: path, remotePath: remote, kind: .directory, attributes: attributes(st), size: 0, linkTarget: "")
    case S_IFLNK:
      var buffer = [CChar](repeating: 0, count: Limits.maxSymlinkTargetBytes + 1)
      let n = readlink(path, &buffer, buffer.count - 1)
      guard n > 0 else { throw CairnError(.ioError, "cannot read symlink '\(path)'") }
      let target = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
      return .init(localPath: path, remotePath: remote, kind: .symlink, attributes: attributes(st), size: 0, linkTarget: target)
    default:
      throw CairnError(.invalidArgument, "'\(path)' is not a regular file, directory or symlink")
    }
  }

  /// Every entry under `root` (the root itself included, as a directory), skipping special files
  /// with a note.
  static func walk(_ root: String, into destination: VolumePath) throws(CairnError) -> [VolumePut.LocalItem] {
    guard let st = lstat(root) else { throw CairnError(.notFound, "local path '\(root)' does not exist") }
    var out = [try item(root, stat: st, remote: destination)]
    var stack = [(root, destination)]
    while let (dir, remote) = stack.popLast() {
      let names: [String]
      do {
        names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
      } catch {
        throw CairnError(.ioError, "cannot read directory '\(dir)': \(error.localizedDescription)")
      }
      for name in names {
        let path = dir + "/" + name
        guard let childStat = lstat(path) else { continue }
        let childRemote = try remote.appending(name)
        let mode = childStat.st_mode & S_IFMT
        guard mode == S_IFREG || mode == S_IFDIR || mode == S_IFLNK else {
          Terminal.note("skipping '\(path)': not a regular file, directory or symlink")
          continue
        }
        out.append(try item(path, stat: childStat, remote: childRemote))
        if mode == S_IFDIR { stack.append((path, childRemote)) }
      }
    }
    return out
  }
}
