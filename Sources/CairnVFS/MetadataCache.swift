import CairnCore
import Foundation

/// The node-local copy of the metadata mounts have read: each volume's last known `VolumeInfo`
/// and directory listings per (volume id, version, directory). Versions are immutable, so a cached
/// listing is always right for its version; that is what lets a running mount, and a new mount of
/// a cached version, work while every metadata server is down (degraded mode, docs/semantics.md).
///
/// Several mount daemons on a node may share one cache directory: every file is written to a
/// temporary name and renamed into place, and each starts with the SHA-256 of its payload, so a
/// torn or damaged file reads as a miss (and is removed), never as wrong metadata.
///
/// Layout: `DIR/volumes/NAME/info`, `DIR/volumes/NAME/ID-CREATED/VERSION/SHA256(PATH)`, `DIR/KEY`
/// for other records (the chunk server list). A volume is identified by its id and its creation
/// time: ids restart at 1 in every cluster, so two clusters (or a volume deleted and created
/// again) never share listings. Bounded by `limitBytes`: when a write would pass it,
/// the least recently written version directories are removed first, never the pinned ones.
public final class MetadataCache: @unchecked Sendable {
  public let directory: String
  public let limitBytes: Int
  private let lock = NSLock()
  private var totalBytes: Int
  /// Version directories never evicted by this process (the versions its mounts are pinned at).
  private var pinned: Set<String> = []

  /// Default bound of a node's metadata cache.
  public static let defaultLimitBytes = 512 << 20

  /// The default directory: `/var/lib/cairn/cache` for root, `~/.cache/cairn/cache` otherwise.
  public static var defaultDirectory: String {
    getuid() == 0 ? "/var/lib/cairn/cache" : NSHomeDirectory() + "/.cache/cairn/cache"
  }

  /// Opens (creating) the cache at `directory` and measures what it holds.
  public init(directory: String, limitBytes: Int = MetadataCache.defaultLimitBytes) throws(VFSError) {
    precondition(limitBytes > 0, "a metadata cache needs a positive bound")
    self.directory = directory
    self.limitBytes = limitBytes
    do {
      try FileManager.default.createDirectory(atPath: directory + "/volumes", withIntermediateDirectories: true)
    } catch {
      throw VFSError(.io, "cannot create the metadata cache '\(directory)': \(error.localizedDescription)")
    }
    totalBytes = 0
    // Measuring walks the whole cache: done off the mount's start-up path (until it is done
    // the bound is enforced on what this process wrote).
    DispatchQueue.global(qos: .utility).async { [self] in
      let measured = Self.measure(directory)
      lock.lock()
      totalBytes += measured
      lock.unlock()
    }
  }

  // MARK: Volumes and listings

  /// Records the newest `VolumeInfo` seen for a volume.
  public func saveVolume(_ info: VolumeInfo) {
    write(JSONCodable.encode(info), to: volumeDirectory(info.name.rawValue) + "/info")
  }

  /// The last `VolumeInfo` seen for the volume named `name`, if any.
  public func volume(named name: String) -> VolumeInfo? {
    read(volumeDirectory(name) + "/info").flatMap { JSONCodable.decode(VolumeInfo.self, $0) }
  }

  public func saveListing(_ entries: [DirectoryEntry], volume: VolumeInfo, version: UInt64, path: VolumePath) {
    guard let bytes = try? BinaryEncoder().encode(entries) else { return }
    write(bytes, to: listingFile(volume, version, path))
  }

  /// The cached children of `path` in `version`, or nil when this node never listed it. When
  /// only an older version's listing is cached and `path`'s children did not change since (see
  /// `saveLink`), that one is returned.
  public func listing(volume: VolumeInfo, version: UInt64, path: VolumePath) -> [DirectoryEntry]? {
    var v = version
    for _ in 0...Self.maxLinkHops {
      if let hit = read(listingFile(volume, v, path)).flatMap({ try? BinaryDecoder().decode([DirectoryEntry].self, from: $0) }) {
        return hit
      }
      // A change at or above `path` (a changed directory, or a changed entry that is `path`
      // or one of its ancestors) means the older listing may not hold.
      guard let link = link(volume: volume, version: v),
        !link.changedDirectories.contains(where: { $0 == "/" || $0 == path.rawValue || path.rawValue.hasPrefix($0 + "/") })
      else { return nil }
      v = link.base
    }
    return nil
  }

  /// How `version` differs from an older `base`: the directories whose children changed.
  struct VersionLink: Codable, Equatable {
    var base: UInt64
    var changedDirectories: Set<String>
  }

  /// Most links followed for one lookup.
  static let maxLinkHops = 32

  /// Records that `version` has the same directory listings as `base` except for
  /// `changedDirectories` (from the metadata service's diff), so a directory this node listed at
  /// `base` is served at `version` too while the service is unreachable.
  public func saveLink(volume: VolumeInfo, version: UInt64, base: UInt64, changedDirectories: Set<VolumePath>) {
    precondition(base < version, "a version links to an older one")
    let link = VersionLink(base: base, changedDirectories: Set(changedDirectories.map(\.rawValue)))
    guard let bytes = try? BinaryEncoder().encode(link) else { return }
    write(bytes, to: versionDirectory(volume, version) + "/link")
  }

  func link(volume: VolumeInfo, version: UInt64) -> VersionLink? {
    read(versionDirectory(volume, version) + "/link").flatMap { try? BinaryDecoder().decode(VersionLink.self, from: $0) }
  }

  /// The directories whose listing changes when `paths` change: each path's parent, and the
  /// path itself (with everything under it).
  public static func changedDirectories(_ paths: [VolumePath]) -> Set<VolumePath> {
    var out: Set<VolumePath> = []
    for path in paths {
      out.insert(path)
      if !path.isRoot { out.insert(path.parent) }
    }
    return out
  }

  /// The paths a commit's changes touch.
  public static func touchedPaths(_ changes: [Change]) -> [VolumePath] {
    changes.flatMap { change -> [VolumePath] in
      switch change {
      case .put(let p, _), .delete(let p, _): return [p]
      case .rename(let from, let to, _): return [from, to]
      default: return [.root]  // anything else: assume everything changed
      }
    }
  }

  /// The newest version of the volume whose root listing is cached (what a new mount without an
  /// explicit version pins while the metadata service is unreachable).
  public func newestCachedVersion(of volume: VolumeInfo) -> UInt64? {
    let dir = volumeDirectory(volume.name.rawValue) + "/" + Self.identity(volume)
    let versions = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap(UInt64.init)
    let rootName = Self.fileName(for: .root)
    let withRoot = versions.sorted(by: >).filter { FileManager.default.fileExists(atPath: dir + "/\($0)/" + rootName) }
    // Prefer a version whose other directories can be found: linked to an older one, or with
    // more than its root listed (a version whose link could not be recorded has only its root).
    let resolvable = withRoot.first { v in
      let files = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/\(v)")) ?? []
      return files.contains("link") || files.filter { $0 != "link" && !$0.hasPrefix(".") }.count > 1
    }
    return resolvable ?? withRoot.first
  }

  /// Keeps the listings of `version` from eviction by this process.
  public func pin(volume: VolumeInfo, version: UInt64) {
    lock.lock()
    pinned.insert(versionDirectory(volume, version))
    lock.unlock()
  }

  public func unpin(volume: VolumeInfo, version: UInt64) {
    lock.lock()
    pinned.remove(versionDirectory(volume, version))
    lock.unlock()
  }

  // MARK: Other records

  /// Stores a small record under `key` (a plain file name).
  public func saveRecord<T: Encodable>(_ value: T, key: String) {
    precondition(!key.contains("/") && !key.isEmpty && key != "volumes", "record keys are plain file names")
    write(JSONCodable.encode(value), to: directory + "/" + key)
  }

  public func record<T: Decodable>(_ type: T.Type, key: String) -> T? {
    read(directory + "/" + key).flatMap { JSONCodable.decode(type, $0) }
  }

  // MARK: Files

  private func volumeDirectory(_ name: String) -> String { directory + "/volumes/" + name }

  private func versionDirectory(_ volume: VolumeInfo, _ version: UInt64) -> String {
    volumeDirectory(volume.name.rawValue) + "/" + Self.identity(volume) + "/\(version)"
  }

  static func identity(_ volume: VolumeInfo) -> String { "\(volume.id)-\(volume.createdNanos)" }

  private func listingFile(_ volume: VolumeInfo, _ version: UInt64, _ path: VolumePath) -> String {
    versionDirectory(volume, version) + "/" + Self.fileName(for: path)
  }

  static func fileName(for path: VolumePath) -> String { BlockAddress.of(Array(path.rawValue.utf8)).hex }

  /// Writes `[SHA-256 of payload] + payload` to a temporary file and renames it into place.
  private func write(_ payload: [UInt8], to path: String) {
    let bytes = BlockAddress.of(payload).bytes + payload
    makeRoom(for: bytes.count)
    let dir = (path as NSString).deletingLastPathComponent
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let old = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int ?? 0
    let tmp = path + ".tmp\(UInt64.random(in: 0..<UInt64.max))"
    guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)), rename(tmp, path) == 0 else {
      unlink(tmp)
      return
    }
    lock.lock()
    totalBytes += bytes.count - old
    lock.unlock()
  }

  /// The payload of a cache file whose checksum matches; a damaged file is removed.
  private func read(_ path: String) -> [UInt8]? {
    guard let data = FileManager.default.contents(atPath: path), data.count >= 32 else { return nil }
    let bytes = [UInt8](data)
    let payload = Array(bytes[32...])
    guard BlockAddress.of(payload).bytes == Array(bytes[0..<32]) else {
      unlink(path)
      return nil
    }
    return payload
  }

  /// Removes the least recently written version directories (not pinned ones) until `incoming`
  /// more bytes fit under 90 % of the bound (so a full cache is not scanned on every write).
  private func makeRoom(for incoming: Int) {
    lock.lock()
    let needed = totalBytes + incoming > limitBytes ? totalBytes + incoming - limitBytes / 10 * 9 : 0
    let keep = pinned
    lock.unlock()
    guard needed > 0 else { return }
    var candidates: [(path: String, modified: Date)] = []
    let volumes = directory + "/volumes"
    for name in (try? FileManager.default.contentsOfDirectory(atPath: volumes)) ?? [] {
      for id in (try? FileManager.default.contentsOfDirectory(atPath: volumes + "/" + name)) ?? [] where id != "info" {
        let idDir = volumes + "/" + name + "/" + id
        for version in (try? FileManager.default.contentsOfDirectory(atPath: idDir)) ?? [] {
          let path = idDir + "/" + version
          guard !keep.contains(path) else { continue }
          let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
          candidates.append((path, modified ?? .distantPast))
        }
      }
    }
    var freed = 0
    for candidate in candidates.sorted(by: { $0.modified < $1.modified }) where freed < needed {
      freed += Self.measure(candidate.path)
      try? FileManager.default.removeItem(atPath: candidate.path)
    }
    lock.lock()
    totalBytes = max(0, totalBytes - freed)
    lock.unlock()
  }

  private static func measure(_ path: String) -> Int {
    guard let walker = FileManager.default.enumerator(atPath: path) else { return 0 }
    var total = 0
    while let name = walker.nextObject() as? String {
      if let size = walker.fileAttributes?[.size] as? Int, walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular {
        total += size
      }
      _ = name
    }
    return total
  }
}

/// JSON for small cache and queue records.
enum JSONCodable {
  static func encode<T: Encodable>(_ value: T) -> [UInt8] { Array((try? JSONEncoder().encode(value)) ?? Data()) }
  static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? { try? JSONDecoder().decode(type, from: Data(bytes)) }
}
