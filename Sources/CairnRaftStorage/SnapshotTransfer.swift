import CairnCore

/// Streams the files of a snapshot directory as chunks of at most `chunkBytes`, file by file in
/// manifest order, each file's chunks in offset order (an empty file yields one empty chunk).
public struct SnapshotChunkReader {
  /// The directory the files are read from.
  public let directory: String
  /// What is being sent.
  public let manifest: SnapshotManifest
  /// The chunk size in bytes.
  public let chunkBytes: Int
  private var fileIndex = 0
  private var offset: UInt64 = 0
  private var current: PosixFile?

  /// Prepares to stream `manifest`'s files from `directory`.
  public init(directory: String, manifest: SnapshotManifest, limits: SnapshotFiles.Limits = SnapshotFiles.Limits()) {
    self.directory = directory
    self.manifest = manifest
    self.chunkBytes = limits.maxChunkBytes
  }

  /// The next chunk, or nil when every file was sent. Throws if a file changed size since the
  /// manifest was made.
  public mutating func next() throws(CairnError) -> SnapshotChunk? {
    while fileIndex < manifest.files.count {
      let file = manifest.files[fileIndex]
      let handle: PosixFile
      if let current {
        handle = current
      } else {
        handle = try PosixFile.openForReading(directory + "/" + file.name)
        guard try handle.size() == file.size else {
          throw CairnError(.ioError, "snapshot file \(handle.path) changed size since its manifest was made")
        }
        current = handle
        if file.size == 0 {
          advanceFile()
          return SnapshotChunk(fileName: file.name, offset: 0, data: [])
        }
      }
      if offset < file.size {
        let count = Int(min(UInt64(chunkBytes), file.size - offset))
        let data = try handle.read(at: offset, count: count)
        guard data.count == count else {
          throw CairnError(.ioError, "snapshot file \(handle.path) ended early at \(offset + UInt64(data.count))")
        }
        let chunk = SnapshotChunk(fileName: file.name, offset: offset, data: data)
        offset += UInt64(count)
        if offset == file.size { advanceFile() }
        return chunk
      }
      advanceFile()
    }
    return nil
  }

  private mutating func advanceFile() {
    fileIndex += 1
    offset = 0
    current = nil
  }
}

/// Writes the chunks of one snapshot into a staging directory and verifies them. A chunk is
/// checked (known file, the next offset of that file, within its size and the chunk bound,
/// CRC-32C) before anything is written, so a refused chunk can be sent again; `finish()` checks
/// that every file is complete and matches its SHA-256, and fsyncs files and directory.
public final class SnapshotReceiver {
  /// The manifest being received.
  public let manifest: SnapshotManifest
  /// Where the files are written.
  public let stagingDirectory: String
  /// The bounds in force.
  public let limits: SnapshotFiles.Limits
  private var received: [String: UInt64] = [:]
  private let sizes: [String: UInt64]

  /// Validates `manifest` and creates `stagingDirectory` afresh (removing a stale one).
  public init(
    manifest: SnapshotManifest, stagingDirectory: String, limits: SnapshotFiles.Limits = SnapshotFiles.Limits()
  ) throws(CairnError) {
    try manifest.validate(limits: limits)
    self.manifest = manifest
    self.stagingDirectory = stagingDirectory
    self.limits = limits
    var sizes: [String: UInt64] = [:]
    for file in manifest.files { sizes[file.name] = file.size }
    self.sizes = sizes
    try SnapshotFiles.remove(stagingDirectory)
    try PosixFile.makeDirectory(stagingDirectory)
  }

  /// Bytes accepted so far.
  public var receivedBytes: UInt64 { received.values.reduce(0, +) }

  /// Whether every file has all its bytes.
  public var isComplete: Bool { manifest.files.allSatisfy { received[$0.name] == $0.size } }

  /// Checks `chunk` and writes it. Throws `.protocolError` (unknown file, out-of-order offset,
  /// past the file's end, bad checksum) or `.tooLarge` (over `maxChunkBytes`) without writing.
  public func receive(_ chunk: SnapshotChunk) throws(CairnError) {
    guard let size = sizes[chunk.fileName] else {
      throw CairnError(.protocolError, "snapshot chunk for \(String(reflecting: chunk.fileName)), not in the manifest")
    }
    guard chunk.data.count <= limits.maxChunkBytes else {
      throw CairnError(
        .tooLarge,
        "snapshot chunk of \(chunk.data.count) bytes, over the limit of \(limits.maxChunkBytes) (maxChunkBytes)")
    }
    let expected = received[chunk.fileName] ?? 0
    guard chunk.offset == expected else {
      throw CairnError(
        .protocolError, "snapshot chunk of \(chunk.fileName) at offset \(chunk.offset), expected offset \(expected)")
    }
    let (end, overflow) = chunk.offset.addingReportingOverflow(UInt64(chunk.data.count))
    guard !overflow, end <= size else {
      throw CairnError(.protocolError, "snapshot chunk runs past the end of \(chunk.fileName) (\(size) bytes)")
    }
    guard CRC32C.checksum(chunk.data) == chunk.crc32c else {
      throw CairnError(
        .protocolError, "snapshot chunk of \(chunk.fileName) at offset \(chunk.offset) is damaged (CRC-32C mismatch)")
    }
    let path = stagingDirectory + "/" + chunk.fileName
    let file = received[chunk.fileName] == nil ? try PosixFile.create(path) : try PosixFile.openForWriting(path)
    try file.write(chunk.data, at: chunk.offset)
    received[chunk.fileName] = end
  }

  /// Verifies that every file is complete and matches its SHA-256 and makes the staging
  /// directory durable. Throws `.protocolError` for a missing or short file and
  /// `.corruptBlock` for a digest mismatch; the staging directory is then unusable.
  public func finish() throws(CairnError) {
    for file in manifest.files {
      let path = stagingDirectory + "/" + file.name
      let got = received[file.name]
      if file.size == 0, got == nil {
        _ = try PosixFile.create(path)
        received[file.name] = 0
      }
      guard received[file.name] == file.size else {
        throw CairnError(
          .protocolError, "snapshot file \(file.name) has \(got ?? 0) of its \(file.size) bytes")
      }
      let handle = try PosixFile.openForReading(path)
      var hasher = SHA256Hasher()
      var offset: UInt64 = 0
      while offset < file.size {
        let bytes = try handle.read(at: offset, count: limits.maxChunkBytes)
        if bytes.isEmpty { break }
        hasher.update(bytes)
        offset += UInt64(bytes.count)
      }
      guard offset == file.size, hasher.finish().bytes == file.sha256 else {
        throw CairnError(.corruptBlock, "snapshot file \(file.name) does not match its SHA-256")
      }
      try PosixFile.openForWriting(path).sync()
    }
    try PosixFile.syncDirectory(stagingDirectory)
  }
}
