import CairnCore
import Foundation
import Logging

/// The backend of a mount in degraded mode: reads go through the node's `MetadataCache` (cached
/// listings are served without asking the cluster, since versions are immutable), and when the
/// metadata service is unreachable it says so at once instead of waiting out a timeout per call.
/// Block reads and uploads go to the chunk servers as before (they may be up while metadata is
/// down). The commit queue itself lives in `VolumeFS`; this type only reports unreachability.
public final class CachingBackend: VolumeBackend, @unchecked Sendable {
  let inner: any VolumeBackend
  public let cache: MetadataCache
  let volumeName: VolumeName
  let logger: Logger
  private let lock = NSLock()
  private var connectivity = Connectivity()
  private var known: VolumeInfo?
  private var versionSource: String?
  /// Versions listed by this mount, kept from eviction (at most `maxPinnedVersions`).
  private var pinnedVersions: [UInt64] = []
  static let maxPinnedVersions = 8

  public init(inner: any VolumeBackend, cache: MetadataCache, volume: VolumeName, logger: Logger) {
    self.inner = inner
    self.cache = cache
    self.volumeName = volume
    self.logger = logger
  }

  public func health() -> BackendHealth? {
    lock.lock()
    defer { lock.unlock() }
    return BackendHealth(
      isConnected: connectivity.isConnected, degradedSince: connectivity.degradedSince, lastError: connectivity.lastError,
      lastErrorTime: connectivity.lastErrorTime, versionSource: versionSource)
  }

  /// True when a call should go to the service now (and, while degraded, claims the attempt).
  private func shouldTry() -> Bool {
    let now = Date()
    lock.lock()
    defer { lock.unlock() }
    guard connectivity.mayTry(at: now) else { return false }
    connectivity.willTry(at: now)
    return true
  }

  private func succeeded() {
    lock.lock()
    let ended = connectivity.succeeded(at: Date())
    lock.unlock()
    if ended { logger.notice("metadata service reachable again: leaving degraded mode", metadata: ["volume": "\(volumeName)"]) }
  }

  /// Records `error` when it means the service is unreachable; returns it unchanged.
  private func noting(_ error: CairnError) -> CairnError {
    guard Connectivity.isUnreachable(error.code) else { return error }
    lock.lock()
    let started = connectivity.failed(error.message, at: Date())
    lock.unlock()
    if started {
      logger.warning(
        "metadata service unreachable: degraded mode (serving the pinned version from the node cache, queueing commits)",
        metadata: ["volume": "\(volumeName)", "error": "\(error.message)"])
    }
    return error
  }

  private func unreachableError(_ what: String) -> CairnError {
    lock.lock()
    let since = connectivity.degradedSince
    let last = connectivity.lastError
    lock.unlock()
    let when = since.map { " since \(ISO8601DateFormatter().string(from: $0))" } ?? ""
    return CairnError(.unavailable, "\(what): the metadata service is unreachable\(when) (\(last ?? "no answer"))")
  }

  public func volume() async throws(CairnError) -> VolumeInfo {
    if shouldTry() {
      do throws(CairnError) {
        let info = try await inner.volume()
        succeeded()
        remember(info, source: nil)
        return info
      } catch {
        guard Connectivity.isUnreachable(noting(error).code) else { throw error }
      }
    }
    return try cachedVolume()
  }

  private func knownVolume() -> VolumeInfo? {
    lock.lock()
    defer { lock.unlock() }
    return known
  }

  private func remember(_ info: VolumeInfo, source: String?) {
    lock.lock()
    let changed = known != info
    known = info
    versionSource = source
    lock.unlock()
    if changed && source == nil { cache.saveVolume(info) }
  }

  /// The volume as last seen, with the head replaced by the newest version whose root listing is
  /// cached on this node (the version a new mount without --version pins while unreachable).
  private func cachedVolume() throws(CairnError) -> VolumeInfo {
    lock.lock()
    let remembered = known
    lock.unlock()
    guard var info = remembered ?? cache.volume(named: volumeName.rawValue) else {
      throw unreachableError(
        "volume '\(volumeName)' has never been mounted on this node (nothing in the metadata cache '\(cache.directory)')")
    }
    let lastKnownHead = info.headVersion
    guard let newest = cache.newestCachedVersion(of: info) else {
      throw unreachableError("no version of volume '\(volumeName)' is in this node's metadata cache '\(cache.directory)'")
    }
    info.headVersion = newest
    remember(
      info, source: "node metadata cache: newest cached version \(newest) (last known head \(lastKnownHead))")
    return info
  }

  public func list(_ path: VolumePath, version: UInt64) async throws(CairnError) -> [DirectoryEntry] {
    let info = knownVolume()
    if let info, let hit = cache.listing(volume: info, version: version, path: path) { return hit }
    guard shouldTry() else {
      let error = unreachableError("directory '\(path)' of version \(version) is not in this node's metadata cache")
      logger.error("cannot list a directory in degraded mode", metadata: ["error": "\(error.message)"])
      throw error
    }
    do throws(CairnError) {
      let entries = try await inner.list(path, version: version)
      succeeded()
      if let info {
        pin(info, version)
        cache.saveListing(entries, volume: info, version: version, path: path)
      }
      return entries
    } catch {
      guard Connectivity.isUnreachable(noting(error).code) else { throw error }
      let clear = unreachableError("directory '\(path)' of version \(version) is not in this node's metadata cache")
      logger.error("cannot list a directory in degraded mode", metadata: ["error": "\(clear.message)"])
      throw clear
    }
  }

  private func pin(_ info: VolumeInfo, _ version: UInt64) {
    lock.lock()
    var unpin: UInt64?
    if !pinnedVersions.contains(version) {
      pinnedVersions.append(version)
      if pinnedVersions.count > Self.maxPinnedVersions { unpin = pinnedVersions.removeFirst() }
    }
    lock.unlock()
    cache.pin(volume: info, version: version)
    if let unpin { cache.unpin(volume: info, version: unpin) }
  }

  public func fetch(_ ref: BlockRef) async throws(CairnError) -> [UInt8] { try await inner.fetch(ref) }

  public func upload(_ blocks: [(BlockAddress, [UInt8])], replicas: Int) async throws(CairnError) {
    try await inner.upload(blocks, replicas: replicas)
  }

  public func commit(
    _ changes: [Change], baseVersion: UInt64, mode: CommitMode, message: String, idempotencyKey: String
  ) async throws(CairnError) -> CommitResult {
    guard shouldTry() else { throw unreachableError("commit not sent") }
    do throws(CairnError) {
      let result = try await inner.commit(
        changes, baseVersion: baseVersion, mode: mode, message: message, idempotencyKey: idempotencyKey)
      succeeded()
      return result
    } catch {
      throw noting(error)
    }
  }

  public func diff(from: UInt64, to: UInt64) async throws(CairnError) -> [DiffEntry] {
    guard shouldTry() else { throw unreachableError("cannot diff versions") }
    do throws(CairnError) {
      let result = try await inner.diff(from: from, to: to)
      succeeded()
      return result
    } catch {
      throw noting(error)
    }
  }

  /// Records, from the service's diff, which directories changed between the two versions (a
  /// mount's reload or commit), so listings cached for `from` serve `to` when degraded. Best
  /// effort: without an answer nothing is recorded.
  public func rememberMove(from: UInt64, to: UInt64, changedPaths: [VolumePath]?) async {
    guard from < to, let info = knownVolume() else { return }
    if let changedPaths {
      cache.saveLink(volume: info, version: to, base: from, changedDirectories: MetadataCache.changedDirectories(changedPaths))
      return
    }
    guard shouldTry() else { return }
    do throws(CairnError) {
      let diff = try await inner.diff(from: from, to: to)
      cache.saveLink(
        volume: info, version: to, base: from, changedDirectories: MetadataCache.changedDirectories(diff.map(\.path)))
    } catch {
      logger.debug("no version link recorded", metadata: ["from": "\(from)", "to": "\(to)", "error": "\(error.message)"])
    }
  }

  /// Asks the service for the volume, whatever the backoff says (the retry loop calls it on its
  /// own schedule).
  public func probe() async -> Bool {
    do throws(CairnError) {
      let info = try await inner.probeVolume()
      succeeded()
      remember(info, source: nil)
      return true
    } catch {
      _ = noting(error)
      return false
    }
  }
}
