import CairnCore
import Foundation

/// A commit made while the metadata service was unreachable (degraded mode): its changes, resolved
/// to manifests at queue time, and the idempotency key fixed then. Kept in the staging journal and
/// sent, in queue order, when the service answers again; the key makes a resend apply once.
public struct QueuedCommit: Codable, Sendable, Equatable {
  public var key: String
  public var message: String
  public var mode: CommitMode
  public var changes: [Change]
  /// The version the mount was pinned at when it was queued.
  public var queuedOnVersion: UInt64
  public var queuedAtNanos: Int64
  /// Blocks of its new file content, kept in the outbox until it is applied.
  public var blocks: [BlockAddress]
}

/// Blocks of queued commits, on local disk until their commit is applied: one file per block
/// named by its address, written and fsynced before the commit is acknowledged as queued, and
/// verified against the address when read back (a damaged file is an error, never wrong bytes).
final class Outbox: @unchecked Sendable {
  let directory: String

  init(directory: String) throws(VFSError) {
    self.directory = directory
    do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
      throw VFSError(.io, "cannot create the outbox '\(directory)': \(error.localizedDescription)")
    }
  }

  func contains(_ address: BlockAddress) -> Bool { FileManager.default.fileExists(atPath: directory + "/" + address.hex) }

  /// Stores a block durably (no-op when present).
  func put(_ address: BlockAddress, _ bytes: [UInt8]) throws(VFSError) {
    precondition(BlockAddress.of(bytes) == address, "an outbox block must hash to its address")
    let path = directory + "/" + address.hex
    if FileManager.default.fileExists(atPath: path) { return }
    let tmp = path + ".tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw VFSError(errno == ENOSPC ? .noSpace : .io, "cannot create '\(tmp)'") }
    defer { close(fd) }
    try VolumeFS.pwriteAll(fd, bytes, at: 0)
    guard Foundation.fsync(fd) == 0, rename(tmp, path) == 0 else {
      unlink(tmp)
      throw VFSError(.io, "cannot store queued block \(address.shortHex) in '\(directory)'")
    }
  }

  /// Makes the renames of `put` durable.
  func sync() {
    let fd = open(directory, O_RDONLY | O_DIRECTORY)
    if fd >= 0 {
      Foundation.fsync(fd)
      close(fd)
    }
  }

  /// A stored block, verified; nil when absent; an error when the file does not match its address.
  func get(_ address: BlockAddress) throws(VFSError) -> [UInt8]? {
    guard let data = FileManager.default.contents(atPath: directory + "/" + address.hex) else { return nil }
    let bytes = [UInt8](data)
    guard BlockAddress.of(bytes) == address else {
      throw VFSError(.io, "queued block \(address.shortHex) in '\(directory)' is damaged (its bytes do not match its hash)")
    }
    return bytes
  }

  func remove(_ address: BlockAddress) { unlink(directory + "/" + address.hex) }

  /// Removes every block not in `keep` (left by a crash between storing blocks and queueing).
  func removeAll(except keep: Set<BlockAddress>) {
    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
      if let address = try? BlockAddress(hex: name), keep.contains(address) { continue }
      unlink(directory + "/" + name)
    }
  }
}
