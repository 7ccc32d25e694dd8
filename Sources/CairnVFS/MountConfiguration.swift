import CairnCore

/// How a volume is mounted.
public struct MountConfiguration: Sendable {
  public var volume: VolumeName
  /// Version to pin; nil pins the head.
  public var version: UInt64?
  public var isReadOnly: Bool
  /// Holds the staging area (journal + staged file data), the block cache and the control socket.
  public var cacheDirectory: String
  /// Commit mode when a commit or reload does not ask for one; nil uses the volume's setting.
  public var commitMode: CommitMode?
  /// Longest a single metadata or block request may take before the operation fails with ETIMEDOUT.
  public var operationTimeoutSeconds: Double = 60
  /// Longest a commit (hashing, upload, metadata) may take.
  public var commitTimeoutSeconds: Double = 600
  /// Bound of the in-memory block cache.
  public var memoryCacheBytes: Int = 256 << 20
  /// Bound of the on-disk block cache.
  public var diskCacheBytes: Int = 2 << 30
  /// Blocks fetched ahead of a sequential reader.
  public var readAheadBlocks: Int = 8
  /// Degraded mode (docs/semantics.md): with the metadata service unreachable, serve the pinned
  /// version from the node's metadata cache and queue commits. Off: fail fast (EIO, exit 5).
  /// Off by default in the library; `cairn mount` turns it on unless `--degraded off`.
  public var isDegradedModeEnabled = false

  public init(volume: VolumeName, version: UInt64? = nil, isReadOnly: Bool = false, cacheDirectory: String) {
    self.volume = volume
    self.version = version
    self.isReadOnly = isReadOnly
    self.cacheDirectory = cacheDirectory
  }
}

/// What `cairn status` shows for a mount.
public struct MountStatus: Codable, Sendable {
  public var volume: String
  public var pinnedVersion: UInt64
  public var headVersion: UInt64?
  public var isMetadataReachable: Bool
  public var isReadOnly: Bool
  public var commitMode: String
  public var stagedChanges: Int
  public var stagedFiles: Int
  public var stagedBytes: UInt64
  public var lastCommitVersion: UInt64?
  public var lastCommitTime: String?
  /// The last commit's error, if the last attempt failed (cleared by a successful commit).
  public var lastCommitError: String?
  public var cacheDirectory: String
  public var controlSocket: String
  /// Degraded mode on or off (fields below: nil from daemons that predate it).
  public var isDegradedModeEnabled: Bool?
  /// `connected`, `degraded` (metadata unreachable, degraded mode on) or `unreachable` (off).
  public var connection: String?
  /// When the current degraded period started.
  public var degradedSince: String?
  /// The last error reaching the metadata service.
  public var lastError: String?
  /// Commits waiting for the metadata service, oldest first.
  public var queuedCommits: Int?
  public var queue: [QueuedCommitStatus]?
  /// Set when the cluster refused the queue's head: the queue waits for `--resolve-queued`.
  public var queueError: String?
  /// Where the pinned version was chosen from when the mount started without the metadata service.
  public var versionSource: String?
}

/// One queued commit in `cairn status --json`.
public struct QueuedCommitStatus: Codable, Sendable {
  public var key: String
  public var message: String
  public var mode: String
  public var changes: Int
  public var queuedAt: String
  public var queuedOnVersion: UInt64
}
