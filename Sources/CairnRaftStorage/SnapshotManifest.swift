import CairnCore

/// What a snapshot made of a RocksDB checkpoint consists of: its files, their sizes and SHA-256
/// digests. Encoded with `BinaryEncoder`, it is the opaque `Snapshot.data` the server hands to
/// the Raft core (`.compact(appliedIndex:data:)`), so it travels in `installSnapshot` and is
/// persisted with the snapshot metadata; the files themselves travel as `SnapshotChunk`s.
public struct SnapshotManifest: Codable, Sendable, Equatable {
  /// One file of the checkpoint.
  public struct File: Codable, Sendable, Equatable {
    /// The file's name inside the checkpoint directory (no slashes).
    public var name: String
    /// Its size in bytes.
    public var size: UInt64
    /// SHA-256 of its contents (32 bytes).
    public var sha256: [UInt8]

    /// Describes one file.
    public init(name: String, size: UInt64, sha256: [UInt8]) {
      self.name = name
      self.size = size
      self.sha256 = sha256
    }
  }

  /// The manifest format; `SnapshotFiles` refuses others.
  public var formatVersion: UInt32
  /// The files, sorted by name.
  public var files: [File]

  /// Creates a manifest of the current format.
  public init(files: [File]) {
    self.formatVersion = SnapshotFiles.formatVersion
    self.files = files.sorted { $0.name < $1.name }
  }

  /// The sum of the file sizes.
  public var totalBytes: UInt64 { files.reduce(0) { $0 + $1.size } }

  /// The manifest as `Snapshot.data`.
  public func encoded() throws(CairnError) -> [UInt8] {
    do { return try BinaryEncoder().encode(self) } catch {
      throw CairnError(.internalError, "cannot encode a snapshot manifest: \(error)")
    }
  }

  /// Decodes `Snapshot.data` and checks it against `limits` (see `validate(limits:)`).
  public init(decoding data: [UInt8], limits: SnapshotFiles.Limits = SnapshotFiles.Limits()) throws(CairnError) {
    self = try BinaryDecoder().decodeOrThrow(SnapshotManifest.self, from: data)
    try validate(limits: limits)
  }

  /// Throws `.protocolError` or `.tooLarge` unless the manifest has the known format, safe
  /// unique file names, 32-byte digests, and stays within `limits`.
  public func validate(limits: SnapshotFiles.Limits = SnapshotFiles.Limits()) throws(CairnError) {
    guard formatVersion == SnapshotFiles.formatVersion else {
      throw CairnError(
        .protocolError,
        "snapshot manifest format \(formatVersion) is not the one this build reads (\(SnapshotFiles.formatVersion))")
    }
    guard files.count <= limits.maxFiles else {
      throw CairnError(.tooLarge, "snapshot has \(files.count) files, over the limit of \(limits.maxFiles) (maxFiles)")
    }
    guard totalBytesChecked() <= limits.maxTotalBytes else {
      throw CairnError(.tooLarge, "snapshot is larger than \(limits.maxTotalBytes) bytes (maxTotalBytes)")
    }
    var seen = Set<String>()
    for file in files {
      guard SnapshotFiles.isSafeFileName(file.name) else {
        throw CairnError(.protocolError, "snapshot file name \(String(reflecting: file.name)) is not a plain file name")
      }
      guard seen.insert(file.name).inserted else {
        throw CairnError(.protocolError, "snapshot lists \(file.name) twice")
      }
      guard file.sha256.count == 32 else {
        throw CairnError(.protocolError, "snapshot file \(file.name) has a \(file.sha256.count)-byte digest, not 32")
      }
    }
  }

  /// The total size, saturating instead of overflowing on hostile sizes.
  private func totalBytesChecked() -> UInt64 {
    var total: UInt64 = 0
    for file in files {
      let (sum, overflow) = total.addingReportingOverflow(file.size)
      if overflow { return .max }
      total = sum
    }
    return total
  }
}

/// One bounded piece of one snapshot file, as sent on the wire.
public struct SnapshotChunk: Codable, Sendable, Equatable {
  /// The file it belongs to (a name from the manifest).
  public var fileName: String
  /// Where `data` starts in the file.
  public var offset: UInt64
  /// The bytes, at most `SnapshotFiles.Limits.maxChunkBytes`.
  public var data: [UInt8]
  /// CRC-32C of `data`, so a damaged chunk is refused on arrival (the per-file SHA-256 is
  /// checked once the file is complete).
  public var crc32c: UInt32

  /// Creates a chunk and computes its checksum.
  public init(fileName: String, offset: UInt64, data: [UInt8]) {
    self.fileName = fileName
    self.offset = offset
    self.data = data
    self.crc32c = CRC32C.checksum(data)
  }
}
