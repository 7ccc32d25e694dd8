import CairnCore
import Foundation

/// A change made in the mount, recorded in order and sent in order as the next commit.
enum StagedOp: Codable, Hashable {
  case mkdir(VolumePath, Attributes)
  case symlink(VolumePath, target: String, Attributes)
  /// A regular file whose content and attributes are those of staged file `stagingId` at commit time.
  case file(VolumePath, stagingId: UInt64)
  /// New attributes of a directory.
  case directoryAttributes(VolumePath, Attributes)
  case delete(VolumePath, recursive: Bool)
  case rename(from: VolumePath, to: VolumePath, replace: Bool)

  var paths: [VolumePath] {
    switch self {
    case .mkdir(let p, _), .symlink(let p, _, _), .file(let p, _), .directoryAttributes(let p, _), .delete(let p, _):
      return [p]
    case .rename(let from, let to, _): return [from, to]
    }
  }
}

/// One line of the staging journal (JSON lines). Written with `write(2)` before the operation is
/// acknowledged, so it survives a crash of the mount daemon; `fsync` makes it survive power loss.
enum JournalRecord: Codable {
  /// First record: the version the ops apply to.
  case header(volume: String, baseVersion: UInt64, blockBytes: Int)
  case op(StagedOp)
  /// A staged file exists with this base content (the staging file holds its size and local blocks).
  case stage(stagingId: UInt64, base: Manifest, attributes: Attributes)
  case fileAttributes(stagingId: UInt64, Attributes)
  case blockLocal(stagingId: UInt64, index: Int)
  case truncate(stagingId: UInt64, sizeBytes: UInt64)
  /// A commit of every op so far was sent with this key (a recovered mount reuses it).
  case commitStarted(key: String)
  /// A commit queued while the cluster was unreachable (degraded mode), in queue order; the
  /// version in the header plus these is what the staged ops apply to.
  case queued(QueuedCommit)
}

/// The append-only journal file of a staging area.
final class Journal: @unchecked Sendable {
  let path: String
  private var fd: Int32
  private let lock = NSLock()
  private let encoder = JSONEncoder()

  /// Opens (creating if needed) the journal at `path` for appending.
  init(path: String) throws(VFSError) {
    self.path = path
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw VFSError(.io, "cannot open journal '\(path)': \(String(cString: strerror(errno)))") }
  }

  deinit { close(fd) }

  /// Reads every complete record; a torn last line (power loss mid-write) is ignored.
  static func read(path: String) -> [JournalRecord] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    let decoder = JSONDecoder()
    var out: [JournalRecord] = []
    for line in data.split(separator: UInt8(ascii: "\n")) {
      guard let record = try? decoder.decode(JournalRecord.self, from: Data(line)) else { break }
      out.append(record)
    }
    return out
  }

  func append(_ records: [JournalRecord]) throws(VFSError) {
    var bytes = Data()
    for r in records {
      guard let d = try? encoder.encode(r) else { throw VFSError(.io, "cannot encode a journal record") }
      bytes.append(d)
      bytes.append(UInt8(ascii: "\n"))
    }
    lock.lock()
    defer { lock.unlock() }
    let ok = bytes.withUnsafeBytes { raw -> Bool in
      var done = 0
      while done < raw.count {
        let n = write(fd, raw.baseAddress! + done, raw.count - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        done += n
      }
      return true
    }
    guard ok else { throw VFSError(errno == ENOSPC ? .noSpace : .io, "cannot append to journal '\(path)'") }
  }

  func sync() throws(VFSError) {
    guard fsync(fd) == 0 else { throw VFSError(.io, "fsync of journal '\(path)' failed") }
  }

  /// Atomically replaces the journal with `records` (after a commit or a reload).
  func replace(with records: [JournalRecord]) throws(VFSError) {
    let tmp = path + ".tmp"
    _ = unlink(tmp)
    let newJournal = try Journal(path: tmp)
    try newJournal.append(records)
    try newJournal.sync()
    lock.lock()
    defer { lock.unlock() }
    guard rename(tmp, path) == 0 else { throw VFSError(.io, "cannot replace journal '\(path)'") }
    let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY)
    if dir >= 0 {
      fsync(dir)
      close(dir)
    }
    close(fd)
    fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw VFSError(.io, "cannot reopen journal '\(path)'") }
  }
}
