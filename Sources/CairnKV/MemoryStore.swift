import CairnCore
import Synchronization

/// The in-memory twin of `RocksDBStore`: same ordering and atomicity, nothing durable. For unit
/// tests and simulations.
public final class MemoryStore: KVStore {
  private struct State {
    var map: [Bytes: Bytes] = [:]
    /// Sorted keys of `map`, rebuilt lazily; always from the same state as `map`.
    var sortedKeys: [Bytes]?
  }

  private let state = Mutex(State())

  public init() {}

  public func get(_ key: Bytes) throws(CairnError) -> Bytes? { state.withLock { $0.map[key] } }

  public func write(_ batch: WriteBatch, sync: Bool) throws(CairnError) {
    state.withLock { s in
      for op in batch.operations {
        switch op {
        case .put(let k, let v): s.map[k] = v
        case .delete(let k): s.map[k] = nil
        }
      }
      s.sortedKeys = nil
    }
  }

  public func makeCursor() throws(CairnError) -> any KVCursor {
    let (map, keys) = state.withLock { s -> ([Bytes: Bytes], [Bytes]) in
      if s.sortedKeys == nil { s.sortedKeys = s.map.keys.sorted { $0.lexicographicallyPrecedes($1) } }
      return (s.map, s.sortedKeys ?? [])
    }
    return MemoryCursor(keys: keys, values: map)
  }

  public func checkpoint(to directory: String) throws(CairnError) {
    throw CairnError(.internalError, "the in-memory store cannot write checkpoints")
  }
}

final class MemoryCursor: KVCursor {
  let keys: [Bytes]
  let values: [Bytes: Bytes]
  var index: Int

  init(keys: [Bytes], values: [Bytes: Bytes]) {
    self.keys = keys
    self.values = values
    index = keys.count
  }

  private func lowerBound(_ key: Bytes) -> Int { StagedStore.lowerBound(keys, key) }

  func seek(_ key: Bytes) { index = lowerBound(key) }

  func seekForPrev(_ key: Bytes) {
    let i = lowerBound(key)
    if i < keys.count && keys[i] == key { index = i } else { index = i - 1 }
    if index < 0 { index = keys.count }
  }

  var isValid: Bool { index >= 0 && index < keys.count }
  var key: Bytes { keys[index] }
  var value: Bytes { values[keys[index]] ?? [] }
  func next() { index += 1 }
  func previous() { index = index == 0 ? keys.count : index - 1 }
}
