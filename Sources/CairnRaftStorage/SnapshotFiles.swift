import CairnCore
import CairnKV
import Foundation

/// Snapshots made of RocksDB checkpoints, moved as bounded chunks: the sending side turns
/// `KVStore.checkpoint(to:)` into a `SnapshotManifest` and streams its files with
/// `SnapshotChunkReader`; the receiving side writes them with `SnapshotReceiver` into a staging
/// directory, verifies every file's SHA-256, and `install(stagedDirectory:as:)` swaps the
/// directory in with renames. No networking here: the server moves the chunks.
///
/// How the metadata server uses it (the Raft core only sees the manifest as opaque bytes):
/// 1. After applying through index *a*, it checkpoints the store (`checkpoint(of:to:)`) into a
///    directory named after *a*, and calls `.compact(appliedIndex: a, data: manifest.encoded())`.
/// 2. When the core sends `installSnapshot`, the transport sends the message and then every chunk
///    of that checkpoint (`SnapshotChunkReader`).
/// 3. The follower's server decodes the manifest from the snapshot data, receives the chunks
///    (`SnapshotReceiver`), and `finish()`es, verifying; only then does it step the core with the
///    message. For the resulting effects (`installsSnapshot`), with the Raft loop paused, it opens
///    the staged directory as a store and rewrites its Raft keys with `RaftLogStore.overwrite(with:)`
///    (its own hard state, the new snapshot, no entries: the checkpoint holds the *leader's*
///    Raft keys), closes it and the live store, `install`s, and reopens. That is step 1 and step 3
///    of the effects contract in one atomic rename.
/// 4. On start, before opening the store, it calls `recoverInterruptedInstall(liveDirectory:)`.
public enum SnapshotFiles {
  /// Named bounds of snapshot transfer.
  public struct Limits: Sendable, Equatable {
    /// Largest chunk a reader produces or a receiver accepts.
    public var maxChunkBytes: Int
    /// Most files in one snapshot.
    public var maxFiles: Int
    /// Largest snapshot, in bytes, a receiver accepts.
    public var maxTotalBytes: UInt64

    /// Bounds with the defaults (1 MiB chunks, 100,000 files, 1 TiB).
    public init(maxChunkBytes: Int = 1 << 20, maxFiles: Int = 100_000, maxTotalBytes: UInt64 = 1 << 40) {
      precondition(maxChunkBytes > 0 && maxFiles > 0 && maxTotalBytes > 0)
      self.maxChunkBytes = maxChunkBytes
      self.maxFiles = maxFiles
      self.maxTotalBytes = maxTotalBytes
    }
  }

  /// The manifest format this build writes and reads.
  public static let formatVersion: UInt32 = 1

  /// Whether `name` is a plain file name: not empty, `.` or `..`, no `/` or NUL, ≤ 255 bytes.
  public static func isSafeFileName(_ name: String) -> Bool {
    !name.isEmpty && name != "." && name != ".." && name.utf8.count <= CairnCore.Limits.maxNameBytes
      && !name.utf8.contains(UInt8(ascii: "/")) && !name.utf8.contains(0)
  }

  /// Writes a checkpoint of `store` to `directory` (which must not exist) and describes it.
  public static func checkpoint(of store: any KVStore, to directory: String) throws(CairnError) -> SnapshotManifest {
    try store.checkpoint(to: directory)
    return try manifest(ofDirectory: directory)
  }

  /// Describes the files of a flat directory (a checkpoint): names, sizes and SHA-256 digests.
  public static func manifest(ofDirectory directory: String, limits: Limits = Limits()) throws(CairnError)
    -> SnapshotManifest
  {
    var files: [SnapshotManifest.File] = []
    for name in try listDirectory(directory) {
      let path = directory + "/" + name
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
        throw CairnError(.invalidArgument, "snapshot directory \(directory) holds \(name), which is not a regular file")
      }
      let file = try PosixFile.openForReading(path)
      var hasher = SHA256Hasher()
      var size: UInt64 = 0
      while true {
        let bytes = try file.read(at: size, count: limits.maxChunkBytes)
        if bytes.isEmpty { break }
        hasher.update(bytes)
        size += UInt64(bytes.count)
      }
      files.append(SnapshotManifest.File(name: name, size: size, sha256: hasher.finish().bytes))
    }
    let manifest = SnapshotManifest(files: files)
    try manifest.validate(limits: limits)
    return manifest
  }

  /// The staging directory a receiver should use for `liveDirectory`; `recoverInterruptedInstall`
  /// cleans it up.
  public static func stagingDirectory(for liveDirectory: String) -> String { liveDirectory + ".staging" }

  /// Swaps a verified staged directory in as `liveDirectory`, replacing what is there. Neither
  /// directory may be open. Crash-safe together with `recoverInterruptedInstall`: first the
  /// staged directory is renamed to `<live>.incoming` (the commit point), then the old live
  /// directory to `<live>.old`, then `.incoming` to live; `.old` is removed last.
  public static func install(stagedDirectory: String, as liveDirectory: String) throws(CairnError) {
    let incoming = liveDirectory + ".incoming"
    let old = liveDirectory + ".old"
    let parent = parentDirectory(of: liveDirectory)
    try remove(incoming)
    try remove(old)
    try PosixFile.rename(stagedDirectory, to: incoming)
    try PosixFile.syncDirectory(parent)
    try finishInstall(liveDirectory: liveDirectory)
  }

  /// Completes or cleans up an install that a crash interrupted; call before opening
  /// `liveDirectory`. A complete `<live>.incoming` is swapped in (roll forward); a partial
  /// staging directory and a leftover `<live>.old` are removed.
  public static func recoverInterruptedInstall(liveDirectory: String) throws(CairnError) {
    try remove(stagingDirectory(for: liveDirectory))
    if exists(liveDirectory + ".incoming") {
      try finishInstall(liveDirectory: liveDirectory)
    } else if !exists(liveDirectory), exists(liveDirectory + ".old") {
      try PosixFile.rename(liveDirectory + ".old", to: liveDirectory)
      try PosixFile.syncDirectory(parentDirectory(of: liveDirectory))
    } else {
      try remove(liveDirectory + ".old")
    }
  }

  private static func finishInstall(liveDirectory: String) throws(CairnError) {
    let incoming = liveDirectory + ".incoming"
    let old = liveDirectory + ".old"
    let parent = parentDirectory(of: liveDirectory)
    if exists(liveDirectory) {
      try remove(old)
      try PosixFile.rename(liveDirectory, to: old)
    }
    try PosixFile.rename(incoming, to: liveDirectory)
    try PosixFile.syncDirectory(parent)
    try remove(old)
  }

  static func listDirectory(_ directory: String) throws(CairnError) -> [String] {
    do { return try FileManager.default.contentsOfDirectory(atPath: directory).sorted() } catch {
      throw CairnError(.ioError, "cannot list snapshot directory \(directory): \(error.localizedDescription)")
    }
  }

  static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

  static func remove(_ path: String) throws(CairnError) {
    guard exists(path) else { return }
    do { try FileManager.default.removeItem(atPath: path) } catch {
      throw CairnError(.ioError, "cannot remove \(path): \(error.localizedDescription)")
    }
  }

  static func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }
}
