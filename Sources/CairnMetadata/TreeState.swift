import CairnCore
import CairnKV

/// A view of one volume's tree at a version, with the writes of the command being applied layered
/// on top. Reads cost O(depth) seeks; listing a directory costs O(children) seeks, whatever the
/// version, because of the descending version suffix in entry keys.
struct TreeState {
  let volumeId: UInt64
  let readVersion: UInt64
  private let cursor: any KVCursor
  /// Writes of the current command, by path (`.tombstone` for deletions).
  private(set) var pending: [VolumePath: StoredEntry] = [:]
  private var pendingChildren: [VolumePath: Set<String>] = [:]
  /// Order in which paths were first written, so batches are deterministic.
  private(set) var writeOrder: [VolumePath] = []
  /// Stored records already read at `readVersion` (a command reads most paths it writes twice:
  /// to check them, then to emit their change records).
  private let memo = Memo()

  private final class Memo {
    var records: [VolumePath: (StoredEntry, UInt64)?] = [:]
  }

  init(store: any KVStore, volumeId: UInt64, version: UInt64) throws(CairnError) {
    self.volumeId = volumeId
    readVersion = version
    cursor = try store.makeCursor()
  }

  /// The stored record visible at `version` for `path`, and the version that wrote it.
  func storedRecord(_ path: VolumePath, at version: UInt64) -> (StoredEntry, UInt64)? {
    guard version == readVersion else { return seekRecord(path, at: version) }
    if let known = memo.records[path] { return known }
    let record = seekRecord(path, at: version)
    memo.records[path] = .some(record)
    return record
  }

  private func seekRecord(_ path: VolumePath, at version: UInt64) -> (StoredEntry, UInt64)? {
    let name = Keys.entryName(volumeId, path)
    cursor.seek(Keys.entry(name, version: version))
    guard cursor.isValid else { return nil }
    let key = cursor.key
    guard key.count == name.count + 8, key.starts(with: name) else { return nil }
    let record: StoredEntry
    do {
      record = try RecordCodec.decode(StoredEntry.self, cursor.value)
    } catch {
      preconditionFailure("undecodable tree record for \(path) in volume \(volumeId): \(error)")
    }
    return (record, Keys.splitEntryKey(key).version)
  }

  /// The newest stored record version for `path`, visible or not (for strict-mode checks).
  func latestRecordVersion(_ path: VolumePath) -> UInt64? {
    storedRecord(path, at: UInt64.max - 1).map(\.1)
  }

  /// The entry at `path` as the command currently sees it.
  func lookup(_ path: VolumePath) -> Entry? {
    if let p = pending[path] { return p.entry }
    return storedRecord(path, at: readVersion)?.0.entry
  }

  /// Children of `dir` (names and entries), sorted by name.
  func children(_ dir: VolumePath) throws(CairnError) -> [(name: String, entry: Entry)] {
    var result: [String: Entry] = [:]
    for (name, entry) in storedChildren(dir, at: readVersion, after: nil, limit: Int.max) { result[name] = entry }
    for name in pendingChildren[dir] ?? [] {
      let child = try dir.appending(name)
      result[name] = pending[child]?.entry
    }
    return result.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }

  /// Children of `dir` stored at `version`, sorted by name, starting after `after`.
  func storedChildren(_ dir: VolumePath, at version: UInt64, after: String?, limit: Int) -> [(String, Entry)] {
    let prefix = Keys.childrenPrefix(volumeId, dir)
    var out: [(String, Entry)] = []
    if let after { cursor.seek(prefix + Array(after.utf8) + [1]) } else { cursor.seek(prefix) }
    while cursor.isValid, out.count < limit {
      let key = cursor.key
      guard key.starts(with: prefix), key.count > prefix.count + 9 else { break }
      let nameEnd = key.count - 9
      guard key[nameEnd] == 0 else { break }
      let nameBytes = Array(key[prefix.count..<nameEnd])
      let entryName = Array(key[..<(nameEnd + 1)])
      cursor.seek(Keys.entry(entryName, version: version))
      if cursor.isValid, cursor.key.count == entryName.count + 8, cursor.key.starts(with: entryName),
        let record = try? RecordCodec.decode(StoredEntry.self, cursor.value), let entry = record.entry
      {
        out.append((String(decoding: nameBytes, as: UTF8.self), entry))
      }
      cursor.seek(prefix + nameBytes + [1])
    }
    return out
  }

  /// Records a write of the current command.
  mutating func write(_ path: VolumePath, _ value: StoredEntry) {
    if pending[path] == nil { writeOrder.append(path) }
    pending[path] = value
    if !path.isRoot { pendingChildren[path.parent, default: []].insert(path.name) }
  }
}
