import CairnCore
import Foundation

/// Block fetching, read-ahead and the staging file I/O helpers.
extension VolumeFS {
  // MARK: Blocks

  /// A block's bytes: from the cache, or fetched (verified by the client) once even when many
  /// readers ask at the same time. Waits at most the operation timeout.
  func blockData(_ ref: BlockRef) throws(VFSError) -> [UInt8] {
    guard let address = ref.address else { return [UInt8](repeating: 0, count: Int(ref.length)) }
    if let hit = cache.get(address) { return hit }
    if let queued = try outbox.get(address) {
      cache.put(address, queued, toDisk: false)
      return queued
    }
    let fetch = startFetch(ref, address)
    guard fetch.done.wait(timeout: .now() + config.operationTimeoutSeconds) == .success else {
      throw VFSError(.timedOut, "reading block \(address.shortHex) did not finish within \(Int(config.operationTimeoutSeconds)) s")
    }
    if let bytes = fetch.bytes { return bytes }
    throw fetch.error ?? VFSError(.io, "reading block \(address.shortHex) failed")
  }

  /// Starts fetching a block on Swift concurrency (no thread blocks on the network), or joins the
  /// fetch already running for it.
  func startFetch(_ ref: BlockRef, _ address: BlockAddress) -> BlockFetch {
    lock.lock()
    if let running = inflight[address] {
      lock.unlock()
      return running
    }
    let fetch = BlockFetch()
    inflight[address] = fetch
    lock.unlock()
    Task { [backend, cache] in
      do throws(CairnError) {
        let bytes = try await backend.fetch(ref)
        cache.put(address, bytes)
        fetch.bytes = bytes
      } catch {
        fetch.error = VFSError(error)
      }
      self.finishFetch(address)
      fetch.done.signal(count: 1_000)
    }
    return fetch
  }

  private func finishFetch(_ address: BlockAddress) {
    lock.lock()
    inflight.removeValue(forKey: address)
    lock.unlock()
  }

  func prefetch(_ refs: [BlockRef]) {
    for ref in refs {
      guard let address = ref.address, !cache.contains(address) else { continue }
      lock.lock()
      let isFull = inflight.count >= Self.maxPrefetches
      lock.unlock()
      if isFull { return }
      _ = startFetch(ref, address)
    }
  }

  static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: UInt64) throws(VFSError) {
    let r: Result<Void, VFSError> = bytes.withUnsafeBytes { raw in
      do throws(VFSError) {
        try pwriteAll(fd, raw, at: offset)
        return .success(())
      } catch { return .failure(error) }
    }
    try r.get()
  }

  static func pwriteAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, at offset: UInt64) throws(VFSError) {
    var done = 0
    while done < raw.count {
      let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done))
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        throw VFSError(errno == ENOSPC ? .noSpace : .io, "writing the staging area failed: \(String(cString: strerror(errno)))")
      }
      done += n
    }
  }

  static func preadInto(_ buffer: inout [UInt8], _ fd: Int32, from start: Int, count: Int, at offset: UInt64)
    throws(VFSError)
  {
    let r: Result<Void, VFSError> = buffer.withUnsafeMutableBytes { raw in
      do throws(VFSError) {
        try preadAll(fd, raw.baseAddress! + start, count, at: offset)
        return .success(())
      } catch { return .failure(error) }
    }
    try r.get()
  }

  static func preadAll(_ fd: Int32, _ base: UnsafeMutableRawPointer, _ count: Int, at offset: UInt64) throws(VFSError) {
    var done = 0
    while done < count {
      let n = pread(fd, base + done, count - done, off_t(offset) + off_t(done))
      if n < 0 && errno == EINTR { continue }
      guard n >= 0 else { throw VFSError(.io, "reading the staging area failed: \(String(cString: strerror(errno)))") }
      if n == 0 { break }  // past the staging file's end: zeros (already in the buffer)
      done += n
    }
  }
}
