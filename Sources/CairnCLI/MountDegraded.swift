import ArgumentParser
import CairnClient
import CairnCore
import CairnVFS
import CairnWire
import Foundation
import Logging

/// Degraded-mode options of `cairn mount` (docs/semantics.md, "Degraded mode").
struct DegradedOptions: ParsableArguments {
  @Option(
    help: """
      Degraded mode: 'on' keeps serving the pinned version from the node's metadata cache and queues \
      commits while every metadata server is unreachable; 'off' fails fast (EIO, exit 5).
      """)
  var degraded: String = "on"
  @Option(help: "The node's metadata cache, shared by its mounts (default: /var/lib/cairn/cache as root).")
  var metadataCacheDir: String?
  @Option(name: .customLong("metadata-cache-mib"), help: "Bound of the metadata cache, in MiB.")
  var metadataCacheMiB: Int = MetadataCache.defaultLimitBytes >> 20

  func validate() throws {
    guard degraded == "on" || degraded == "off" else { throw ValidationError("--degraded must be 'on' or 'off'") }
    guard metadataCacheMiB > 0 else { throw ValidationError("--metadata-cache-mib must be positive") }
  }

  var isEnabled: Bool { degraded == "on" }

  /// The same options for a `cairn mount` this process starts.
  var mountArguments: [String] {
    var out = ["--degraded", degraded, "--metadata-cache-mib", "\(metadataCacheMiB)"]
    if let metadataCacheDir { out += ["--metadata-cache-dir", cacheDirectory] }
    return out
  }
  var cacheDirectory: String {
    metadataCacheDir.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? MetadataCache.defaultDirectory
  }
}

/// Wiring of degraded mode into the mount daemon: the caching backend, the chunk server list kept
/// in the node cache, and the thread that probes the metadata service and sends queued commits.
enum DegradedMode {
  /// Node cache key of the last chunk server list seen by clients of this metadata service (one
  /// per set of metadata addresses: a node may talk to more than one cluster).
  static func chunkServersKey(_ client: CairnClient) -> String {
    let addresses = client.meta.addresses.map(\.description).sorted().joined(separator: ",")
    return "chunk-servers-" + String(BlockAddress.of(Array(addresses.utf8)).hex.prefix(16))
  }

  /// The backend for a mount: the client itself with degraded mode off, else the client behind
  /// the node's metadata cache (with the chunk server list seeded from the cache).
  static func backend(
    _ options: DegradedOptions, client: CairnClient, volume: VolumeName, logger: Logger
  ) throws(VFSError) -> (any VolumeBackend, MetadataCache?) {
    let direct = ClientBackend(client: client, name: volume)
    guard options.isEnabled else { return (direct, nil) }
    let cache = try MetadataCache(directory: options.cacheDirectory, limitBytes: options.metadataCacheMiB << 20)
    if let servers = cache.record([ChunkServerStatus].self, key: chunkServersKey(client)), !servers.isEmpty {
      blocking { await client.servers.seed(servers) }
    }
    return (CachingBackend(inner: direct, cache: cache, volume: volume, logger: logger), cache)
  }

  /// Starts the degraded-mode thread: probes and queue replay (`VolumeFS.runDegradedModeLoop`),
  /// and a refresh of the cached chunk server list every 30 s while connected.
  static func start(fs: VolumeFS, client: CairnClient, cache: MetadataCache, stopping: StopFlag) {
    let refresher = ServerListRefresher(client: client, cache: cache)
    Thread.detachNewThread {
      fs.runDegradedModeLoop(shouldStop: { stopping.isSet }, onReconnect: { refresher.refresh() })
    }
    Thread.detachNewThread {
      while !stopping.isSet {
        if fs.isMetadataConnected { refresher.refresh() }
        for _ in 0..<Int(ServerListRefresher.periodSeconds * 4) where !stopping.isSet { Thread.sleep(forTimeInterval: 0.25) }
      }
    }
  }

  /// Runs async work from a plain thread and waits for it.
  static func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
      box.value = await body()
      done.signal()
    }
    done.wait()
    guard let value = box.value else { preconditionFailure("a finished task left no result") }
    return value
  }
}

/// Keeps the node cache's chunk server list current.
final class ServerListRefresher: @unchecked Sendable {
  /// Seconds between refreshes while connected (and one at every reconnection).
  static let periodSeconds = 30.0
  let client: CairnClient
  let cache: MetadataCache
  private let lock = NSLock()
  private var last: [ChunkServerStatus] = []

  init(client: CairnClient, cache: MetadataCache) {
    self.client = client
    self.cache = cache
  }

  func refresh() {
    let servers = DegradedMode.blocking { [client] in (try? await client.servers.all(refresh: true)) ?? [] }
    lock.lock()
    defer { lock.unlock() }
    guard !servers.isEmpty, servers != last else { return }
    last = servers
    cache.saveRecord(servers, key: DegradedMode.chunkServersKey(client))
  }
}

final class ResultBox<T>: @unchecked Sendable {
  var value: T?
}
