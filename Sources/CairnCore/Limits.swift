/// Every bound Cairn enforces, in one place. Decoders, servers and clients check against these;
/// a value past a bound is rejected with an error naming the bound, never truncated silently.
public enum Limits {
  /// Largest wire frame payload. Block bodies travel in chunks no larger than `bodyChunkBytes`.
  public static let maxFramePayloadBytes = 8 << 20
  /// Size of one streamed body chunk (block bodies are split into frames of at most this size).
  public static let bodyChunkBytes = 1 << 20
  /// Largest block a volume may be configured with.
  public static let maxBlockBytes = 64 << 20
  /// Smallest block a volume may be configured with.
  public static let minBlockBytes = 64 << 10
  /// Default block size of a new volume.
  public static let defaultBlockBytes = 4 << 20
  /// Longest file or directory name, in bytes (POSIX NAME_MAX).
  public static let maxNameBytes = 255
  /// Longest path, in bytes (POSIX PATH_MAX).
  public static let maxPathBytes = 4096
  /// Deepest path, in components.
  public static let maxPathDepth = 256
  /// Longest symlink target.
  public static let maxSymlinkTargetBytes = 4096
  /// Longest commit message.
  public static let maxMessageBytes = 4096
  /// Most changes in one commit request.
  public static let maxChangesPerCommit = 100_000
  /// Most blocks in one file manifest (16 TiB at 4 MiB blocks with holes elided).
  public static let maxBlocksPerManifest = 4_000_000
  /// Most items in any one list carried on the wire (addresses in a `has` batch, entries in a page).
  public static let maxListItems = 100_000
  /// Longest string of any other kind carried on the wire.
  public static let maxStringBytes = 64 << 10
  /// Deepest nesting of structured values in a payload.
  public static let maxNestingDepth = 32
  /// Most requests in flight on one connection; further requests wait.
  public static let maxInFlightRequestsPerConnection = 256
  /// Versions kept per volume unless the volume says otherwise.
  public static let defaultRetainedVersions = 100
  /// Most entries returned by one directory listing page.
  public static let maxListPageEntries = 10_000
  /// Longest idempotency key.
  public static let maxIdempotencyKeyBytes = 128
}
