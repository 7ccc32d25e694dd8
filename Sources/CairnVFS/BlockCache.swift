import CairnCore
import Foundation

/// Verified blocks kept for re-reading: an in-memory LRU bounded by `memoryBytes` and a directory
/// bounded by `diskBytes`. Blocks enter only after verification against their address. On disk
/// each block has a sidecar of chunk digests (the first 8 bytes of the SHA-256 of each 64 KiB
/// chunk; SHA-256 runs on the CPU's SHA extensions), so a read of a few KiB reads
/// and checks only the chunks it needs; a chunk that fails its check drops the cached block (the
/// read then fetches it again from the cluster), so a damaged cache file is never returned.
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

  /// True when the block is cached in memory or on disk (read-ahead skips it).
  func contains(_ address: BlockAddress) -> Bool {
    lock.lock()
    defer { lock.unlock() }
    return memory[address] != nil || diskSizes[address] != nil
  }

  /// Bytes per checksummed chunk of a cached block file.
  static let chunkBytes = 64 << 10
  static let digestBytes = 8

  /// The first 8 bytes of the chunk's SHA-256.
  static func digest(_ chunk: UnsafeRawBufferPointer) -> UInt64 {
    var hasher = SHA256Hasher()
    hasher.update(chunk)
    return hasher.finish().bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
  }

  /// Bytes `range` of a cached block (memory, or verified chunks read from disk), or nil.
  func read(_ address: BlockAddress, _ range: Range<Int>) -> [UInt8]? {
    lock.lock()
    tick += 1
    if let hit = memory[address] {
      memory[address] = (hit.bytes, tick)
      lock.unlock()
      guard range.upperBound <= hit.bytes.count else { return nil }
      return Array(hit.bytes[range])
    }
    let size = diskSizes[address]
    lock.unlock()
    guard let size, let directory, range.upperBound <= size, !range.isEmpty else { return nil }
    let file = directory + "/" + address.hex
    guard let sums = FileManager.default.contents(atPath: file + ".crc") else { return nil }
    let first = range.lowerBound / Self.chunkBytes
    let last = (range.upperBound - 1) / Self.chunkBytes
    let start = first * Self.chunkBytes
    let end = min(size, (last + 1) * Self.chunkBytes)
    guard sums.count >= (last + 1) * Self.digestBytes else { return nil }
    let fd = open(file, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: end - start)
    let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
    guard n == end - start else { return nil }
    let ok = buffer.withUnsafeBytes { raw -> Bool in
      for k in first...last {
        let from = k * Self.chunkBytes - start
        let to = min(raw.count, from + Self.chunkBytes)
        let expected = sums.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: k * Self.digestBytes, as: UInt64.self) }
        if Self.digest(UnsafeRawBufferPointer(rebasing: raw[from..<to])) != expected { return false }
      }
      return true
    }
    guard ok else {
      removeFromDisk(address)
      return nil
    }
    return Array(buffer[(range.lowerBound - start)..<(range.upperBound - start)])
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
    var sums = Data(capacity: (bytes.count / Self.chunkBytes + 1) * Self.digestBytes)
    bytes.withUnsafeBytes { raw in
      var offset = 0
      while offset < raw.count {
        let to = min(raw.count, offset + Self.chunkBytes)
        var d = Self.digest(UnsafeRawBufferPointer(rebasing: raw[offset..<to]))
        withUnsafeBytes(of: &d) { sums.append(contentsOf: $0) }
        offset = to
      }
    }
    guard FileManager.default.createFile(atPath: tmp + ".crc", contents: sums), rename(tmp + ".crc", file + ".crc") == 0,
      FileManager.default.createFile(atPath: tmp, contents: Data(bytes)), rename(tmp, file) == 0
    else {
      unlink(tmp)
      unlink(tmp + ".crc")
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
    for a in evict {
      unlink(directory + "/" + a.hex)
      unlink(directory + "/" + a.hex + ".crc")
    }
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
    if let directory {
      unlink(directory + "/" + address.hex)
      unlink(directory + "/" + address.hex + ".crc")
    }
  }
}
