import CairnCore
import CairnTransport
import CairnWire
import Foundation

/// The Cairn client library: volumes, versions, trees and file contents. Used by the CLI and the
/// mount daemon. Every operation is bounded by a timeout and reports errors that name the volume,
/// path or server involved.
public final class CairnClient: Sendable {
  public let meta: MetaClient
  public let blocks: BlockTransfer
  public let servers: ServerDirectory
  public let author: String
  let pool: ConnectionPool

  /// Blocks read or written per round trip window of one file.
  public static let windowBlocks = 8

  /// `hedgedReads`: ask a second replica when the first is slower than the threshold (see
  /// `BlockTransfer.fetch`); off only to measure what hedging buys. `attemptTimeout`: how long
  /// one metadata request waits on one server before trying the next (default: a third of the
  /// call's timeout, at least 1 s).
  public init(
    metaAddresses: [ServerAddress], author: String? = nil, timeout: Duration = .seconds(30),
    attemptTimeout: Duration? = nil, hedgedReads: Bool = true
  ) {
    pool = ConnectionPool(connectionsPerAddress: 2, connectTimeout: .seconds(3))
    meta = MetaClient(addresses: metaAddresses, pool: pool, timeout: timeout, attemptTimeout: attemptTimeout)
    servers = ServerDirectory(meta: meta)
    blocks = BlockTransfer(meta: meta, pool: pool, servers: servers, hedgedReads: hedgedReads)
    self.author = author ?? "\(ProcessInfo.processInfo.hostName):\(getpid())"
  }

  public func close() async { await pool.closeAll() }

  // MARK: Volumes

  public func createVolume(_ name: VolumeName, settings: VolumeSettings = VolumeSettings()) async throws(CairnError)
    -> VolumeInfo
  {
    guard case .volume(let info) = try await meta.call(.createVolume(name, settings)) else { throw unexpected() }
    return info
  }

  public func volumes() async throws(CairnError) -> [VolumeInfo] {
    guard case .volumes(let list) = try await meta.call(.listVolumes) else { throw unexpected() }
    return list
  }

  /// The volume's information; `timeout` bounds the call (default: the client's timeout).
  public func volume(_ name: VolumeName, timeout: Duration? = nil) async throws(CairnError) -> VolumeInfo {
    guard case .volume(let info) = try await meta.call(.getVolume(name), timeout: timeout) else { throw unexpected() }
    return info
  }

  public func deleteVolume(_ name: VolumeName) async throws(CairnError) {
    guard case .ok = try await meta.call(.deleteVolume(name)) else { throw unexpected() }
  }

  public func renameVolume(_ from: VolumeName, to: VolumeName) async throws(CairnError) -> VolumeInfo {
    guard case .volume(let info) = try await meta.call(.renameVolume(from: from, to: to)) else { throw unexpected() }
    return info
  }

  public func history(_ name: VolumeName, limit: Int = 1000) async throws(CairnError) -> [VersionInfo] {
    guard case .history(let list) = try await meta.call(.history(name, limit: UInt32(limit))) else {
      throw unexpected()
    }
    return list
  }

  public func diff(_ name: VolumeName, from: UInt64, to: UInt64) async throws(CairnError) -> [DiffEntry] {
    guard case .diff(let list) = try await meta.call(.diff(name, from: from, to: to)) else { throw unexpected() }
    return list
  }

  public func rollback(_ name: VolumeName, to version: UInt64) async throws(CairnError) -> CommitResult {
    guard case .commit(let r) = try await meta.call(.rollback(name, version: version, author: author)) else {
      throw unexpected()
    }
    return r
  }

  public func fork(_ name: VolumeName, version: UInt64?, newName: VolumeName) async throws(CairnError) -> VolumeInfo {
    guard case .volume(let info) = try await meta.call(.fork(name, version: version, newName: newName, author: author))
    else { throw unexpected() }
    return info
  }

  public func clusterStatus() async throws(CairnError) -> ClusterStatus {
    guard case .cluster(let status) = try await meta.call(.clusterStatus) else { throw unexpected() }
    return status
  }

  // MARK: Trees

  public func lookup(_ name: VolumeName, _ path: VolumePath, version: UInt64? = nil) async throws(CairnError)
    -> DirectoryEntry
  {
    guard case .entry(let e) = try await meta.call(.lookup(name, path, version: version)) else { throw unexpected() }
    return e
  }

  /// Every child of a directory (all pages), with the version read.
  public func list(_ name: VolumeName, _ path: VolumePath, version: UInt64? = nil) async throws(CairnError)
    -> (version: UInt64, entries: [DirectoryEntry])
  {
    var all: [DirectoryEntry] = []
    var after: String?
    var pinned = version
    while true {
      guard
        case .listing(let v, let page) = try await meta.call(
          .list(name, path, version: pinned, after: after, limit: UInt32(Limits.maxListPageEntries)))
      else { throw unexpected() }
      pinned = v
      all += page
      guard page.count == Limits.maxListPageEntries, let last = page.last else { return (v, all) }
      after = last.path.name
    }
  }

  /// Every entry below `path` (depth first, directories before their children).
  public func walk(_ name: VolumeName, _ path: VolumePath, version: UInt64) async throws(CairnError) -> [DirectoryEntry]
  {
    var out: [DirectoryEntry] = []
    var stack = [path]
    while let dir = stack.popLast() {
      for child in try await list(name, dir, version: version).entries {
        out.append(child)
        if child.entry.kind == .directory { stack.append(child.path) }
      }
    }
    return out
  }

  // MARK: Commits

  /// Commits `changes`. A timed-out or unreachable attempt is retried with the same idempotency key
  /// (also at a new leader), so the commit applies at most once; if the outcome stays unknown
  /// until the client's timeout, the error is `.unknownOutcome`.
  public func commit(
    _ name: VolumeName, changes: [Change], baseVersion: UInt64? = nil, mode: CommitMode = .merge, message: String = "",
    idempotencyKey: String? = nil
  ) async throws(CairnError) -> CommitResult {
    let key = idempotencyKey ?? IdempotencyKeys.next()
    var base = baseVersion
    if base == nil { base = try await volume(name).headVersion }
    let request = CommitRequest(
      volume: name, baseVersion: base ?? 0, changes: changes, mode: mode, idempotencyKey: key, author: author,
      message: message)
    // MetaClient retries with the same idempotency key across leader changes and reports
    // `.unknownOutcome` only when an attempt may have been applied and none confirmed it.
    guard case .commit(let r) = try await meta.call(.commit(request)) else { throw unexpected() }
    return r
  }

  func unexpected() -> CairnError { CairnError(.protocolError, "unexpected reply from the metadata service") }
}

/// Idempotency keys for commits: a random 128-bit prefix drawn once per process and a counter, as
/// unique as random UUIDs (the prefix) and without reading the system's randomness per commit.
public enum IdempotencyKeys {
  private static let prefix: String = {
    var rng = SystemRandomNumberGenerator()
    let high = rng.next() as UInt64
    let low = rng.next() as UInt64
    return hex(high) + hex(low)
  }()
  private static let counter = Counter(0)

  static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
  }

  /// A key no other commit of any process uses.
  public static func next() -> String { prefix + "-" + String(counter.increment(), radix: 36) }
}
