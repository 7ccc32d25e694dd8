import CairnCore
import Foundation

/// Verified blocks kept for re-reading: an in-memory LRU bounded by `memoryBytes` and a directory
/// bounded by `diskBytes`. Blocks read back from disk are hashed again before use, so a damaged
/// cache file is dropped, never returned.
final class BlockCache: @unchecked Sendable {
  private let lock = NSLock()
  private let memoryLimitBytes: Int
  private let diskLimitBytes: Int
  private let directory: String?
  private var memory: [BlockAddress: (bytes: [UInt8], tick: UInt64)] = [:]
  private var memoryBytes = 0
  private var tick: UInt64 = 0
  private var diskOrder: [BlockAddress] = []
  private var diskSizes: [BlockAddress: Int] = [:]
  private var diskBytes = 0

  init(memoryLimitBytes: Int, diskLimitBytes: Int, directory: String?) {
    self.memoryLimitBytes = memoryLimitBytes
    self.diskLimitBytes = diskLimitBytes
    self.directory = directory
    if let directory {
      try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
        guard let address = try? BlockAddress(hex: name),
          let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + name))?[.size] as? Int
        else { continue }
        diskOrder.append(address)
        diskSizes[address] = size
        diskBytes += size
      }
    }
  }

  func contains(_ address: BlockAddress) -> Bool {
    lock.lock()
    defer { lock.unlock() }
    return memory[address] != nil
  }

  func get(_ address: BlockAddress) -> [UInt8]? {
    lock.lock()
    tick += 1
    if let hit = memory[address] {
      memory[address] = (hit.bytes, tick)
      lock.unlock()
      return hit.bytes
    }
    let onDisk = diskSizes[address] != nil
    lock.unlock()
    guard onDisk, let directory, let data = FileManager.default.contents(atPath: directory + "/" + address.hex) else {
      return nil
    }
    let bytes = [UInt8](data)
    guard BlockAddress.of(bytes) == address else {
      removeFromDisk(address)
      return nil
    }
    putInMemory(address, bytes)
    return bytes
  }

  func put(_ address: BlockAddress, _ bytes: [UInt8], toDisk: Bool = true) {
    putInMemory(address, bytes)
    guard toDisk, let directory, diskLimitBytes > 0, bytes.count <= diskLimitBytes else { return }
    lock.lock()
    let known = diskSizes[address] != nil
    lock.unlock()
    if known { return }
    let file = directory + "/" + address.hex
    let tmp = file + ".tmp\(UInt64.random(in: 0..<UInt64.max))"
    guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)), rename(tmp, file) == 0 else {
      unlink(tmp)
      return
    }
    lock.lock()
    diskOrder.append(address)
    diskSizes[address] = bytes.count
    diskBytes += bytes.count
    var evict: [BlockAddress] = []
    while diskBytes > diskLimitBytes, !diskOrder.isEmpty {
      let old = diskOrder.removeFirst()
      if let size = diskSizes.removeValue(forKey: old) {
        diskBytes -= size
        evict.append(old)
      }
    }
    lock.unlock()
    for a in evict { unlink(directory + "/" + a.hex) }
  }

  private func putInMemory(_ address: BlockAddress, _ bytes: [UInt8]) {
    guard bytes.count <= memoryLimitBytes else { return }
    lock.lock()
    defer { lock.unlock() }
    tick += 1
    if memory[address] == nil { memoryBytes += bytes.count }
    memory[address] = (bytes, tick)
    while memoryBytes > memoryLimitBytes {
      guard let oldest = memory.min(by: { $0.value.tick < $1.value.tick }) else { break }
      memory.removeValue(forKey: oldest.key)
      memoryBytes -= oldest.value.bytes.count
    }
  }

  private func removeFromDisk(_ address: BlockAddress) {
    lock.lock()
    if let size = diskSizes.removeValue(forKey: address) {
      diskBytes -= size
      diskOrder.removeAll { $0 == address }
    }
    lock.unlock()
    if let directory { unlink(directory + "/" + address.hex) }
  }
}
