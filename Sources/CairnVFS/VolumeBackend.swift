import CairnClient
import CairnCore

/// What the mount needs from the cluster: a volume's versions, trees and blocks. The real one is
/// `ClientBackend`; tests use an in-memory twin.
public protocol VolumeBackend: Sendable {
  func volume() async throws(CairnError) -> VolumeInfo
  func list(_ path: VolumePath, version: UInt64) async throws(CairnError) -> [DirectoryEntry]
  func fetch(_ ref: BlockRef) async throws(CairnError) -> [UInt8]
  /// Makes the blocks durable; blocks the cluster already holds are not sent again.
  func upload(_ blocks: [(BlockAddress, [UInt8])], replicas: Int) async throws(CairnError)
  func commit(_ changes: [Change], baseVersion: UInt64, mode: CommitMode, message: String, idempotencyKey: String)
    async throws(CairnError) -> CommitResult
  /// Paths changed between two versions (for strict reloads).
  func diff(from: UInt64, to: UInt64) async throws(CairnError) -> [DiffEntry]
  /// The connection state when the backend tracks it (degraded mode); nil otherwise.
  func health() -> BackendHealth?
  /// Asks the metadata service whether it answers (a cheap read); true when it does.
  func probe() async -> Bool
  /// `volume()` with a short deadline, for probes of a service that did not answer.
  func probeVolume() async throws(CairnError) -> VolumeInfo
  /// The mount moved from `from` to `to` (a newer version): a backend with a node cache records
  /// which directories differ (from `changedPaths` when the caller knows them, else from the
  /// service's diff), so the listings it holds for `from` serve `to` while degraded.
  func rememberMove(from: UInt64, to: UInt64, changedPaths: [VolumePath]?) async
}

extension VolumeBackend {
  public func health() -> BackendHealth? { nil }

  public func rememberMove(from: UInt64, to: UInt64, changedPaths: [VolumePath]?) async {}

  public func probeVolume() async throws(CairnError) -> VolumeInfo { try await volume() }

  public func probe() async -> Bool {
    do throws(CairnError) {
      _ = try await volume()
      return true
    } catch {
      return false
    }
  }
}

/// `VolumeBackend` over the Cairn client library.
public final class ClientBackend: VolumeBackend {
  public let client: CairnClient
  public let name: VolumeName

  public init(client: CairnClient, name: VolumeName) {
    self.client = client
    self.name = name
  }

  public func volume() async throws(CairnError) -> VolumeInfo { try await client.volume(name) }

  /// Longest a probe of an unreachable metadata service waits.
  public static let probeBudget = Duration.seconds(1)

  public func probeVolume() async throws(CairnError) -> VolumeInfo { try await client.volume(name, timeout: Self.probeBudget) }

  public func list(_ path: VolumePath, version: UInt64) async throws(CairnError) -> [DirectoryEntry] {
    try await client.list(name, path, version: version).entries
  }

  public func fetch(_ ref: BlockRef) async throws(CairnError) -> [UInt8] {
    try await client.blocks.fetch(ref, locations: nil)
  }

  public func upload(_ blocks: [(BlockAddress, [UInt8])], replicas: Int) async throws(CairnError) {
    _ = try await client.blocks.upload(blocks, replicas: replicas)
  }

  public func commit(
    _ changes: [Change], baseVersion: UInt64, mode: CommitMode, message: String, idempotencyKey: String
  ) async throws(CairnError) -> CommitResult {
    try await client.commit(
      name, changes: changes, baseVersion: baseVersion, mode: mode, message: message, idempotencyKey: idempotencyKey)
  }

  public func diff(from: UInt64, to: UInt64) async throws(CairnError) -> [DiffEntry] {
    try await client.diff(name, from: from, to: to)
  }
}
