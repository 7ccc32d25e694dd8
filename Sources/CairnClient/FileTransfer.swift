import CairnCore
import CairnTransport
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Uploading local files into manifests and downloading manifests into files, block by block,
/// a window of blocks at a time.
extension CairnClient {
  /// Splits the file at `localPath` into blocks of `blockBytes`, uploads the ones the cluster
  /// lacks (all-zero blocks become holes) and returns the file's manifest.
  public func uploadFile(
    at localPath: String, blockBytes: Int, replicas: Int, progress: (@Sendable (Int) -> Void)? = nil
  ) async throws(CairnError) -> (Manifest, BlockTransfer.UploadStats) {
    let fd = open(localPath, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw CairnError(.notFound, "cannot open '\(localPath)': \(String(cString: strerror(errno)))") }
    defer { Glibc.close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw CairnError(.ioError, "cannot stat '\(localPath)'") }
    let size = Int(st.st_size)
    var refs: [BlockRef] = []
    var totals = BlockTransfer.UploadStats()
    var offset = 0
    while offset < size {
      let windowEnd = min(size, offset + blockBytes * Self.windowBlocks)
      let start = offset
      let window = try await Blocking.run { () throws(CairnError) -> [(BlockRef, [UInt8])] in
        var out: [(BlockRef, [UInt8])] = []
        var o = start
        while o < windowEnd {
          let n = min(blockBytes, windowEnd - o)
          let bytes = try Self.readExactly(fd, count: n, at: o, path: localPath)
          let address = Self.isAllZero(bytes) ? nil : BlockAddress.of(bytes)
          out.append((BlockRef(address: address, length: UInt32(n)), address == nil ? [] : bytes))
          o += n
        }
        return out
      }
      let toUpload = window.compactMap { ref, bytes in ref.address.map { ($0, bytes) } }
      let stats = try await blocks.upload(toUpload, replicas: replicas)
      totals.blocksUploaded += stats.blocksUploaded
      totals.blocksSkipped += stats.blocksSkipped
      totals.bytesUploaded += stats.bytesUploaded
      refs += window.map(\.0)
      progress?(windowEnd - offset)
      offset = windowEnd
    }
    return (Manifest(blocks: refs), totals)
  }

  /// Downloads `entry`'s content into `fd` (written sequentially), checking every block's hash and
  /// length and the total size. A short or corrupt read throws; nothing is silently truncated.
  public func download(_ entry: Entry, path: VolumePath, to fd: Int32, progress: (@Sendable (Int) -> Void)? = nil)
    async throws(CairnError)
  {
    guard entry.kind == .file else { throw CairnError(.isADirectory, "'\(path)' is not a regular file") }
    let refs = entry.manifest.blocks
    var written: UInt64 = 0
    var index = 0
    while index < refs.count {
      let window = Array(refs[index..<min(refs.count, index + Self.windowBlocks)])
      let addresses = window.compactMap(\.address)
      var locations: [BlockAddress: [UInt64]] = [:]
      if !addresses.isEmpty, case .locations(let found) = try await meta.call(.locateBlocks(addresses)),
        found.count == addresses.count
      {
        for (a, l) in zip(addresses, found) { locations[a] = l }
      }
      let known = locations
      let fetched = await withTaskGroup(of: (Int, Result<[UInt8], CairnError>).self) { group in
        for (i, ref) in window.enumerated() {
          let refLocations = ref.address.flatMap { known[$0] }
          group.addTask {
            let result: Result<[UInt8], CairnError>
            do {
              result = .success(try await self.blocks.fetch(ref, locations: refLocations))
            } catch {
              result = .failure(error as? CairnError ?? CairnError(.internalError, "\(error)"))
            }
            return (i, result)
          }
        }
        var out = [Result<[UInt8], CairnError>?](repeating: nil, count: window.count)
        for await item in group { out[item.0] = item.1 }
        return out
      }
      for (i, result) in fetched.enumerated() {
        guard let result else { throw CairnError(.internalError, "missing block result") }
        switch result {
        case .success(let bytes):
          try await Blocking.run { () throws(CairnError) in try Self.writeAll(fd, bytes, path: path) }
          written += UInt64(bytes.count)
          progress?(bytes.count)
        case .failure(let error):
          throw CairnError(
            error.code, "reading '\(path)' block \(index + i): \(error.message)", details: error.details)
        }
      }
      index += window.count
    }
    guard written == entry.size else {
      throw CairnError(.ioError, "'\(path)': wrote \(written) bytes but the file has \(entry.size)")
    }
  }

  static func readExactly(_ fd: Int32, count: Int, at offset: Int, path: String) throws(CairnError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
      let n = buffer.withUnsafeMutableBytes { raw -> Int in
        guard let base = raw.baseAddress else { return 0 }
        return pread(fd, base + done, count - done, off_t(offset + done))
      }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        throw CairnError(.ioError, "'\(path)' changed or could not be read while uploading (short read at \(offset + done))")
      }
      done += n
    }
    return buffer
  }

  static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: VolumePath) throws(CairnError) {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { raw -> Int in
        guard let base = raw.baseAddress else { return 0 }
        return write(fd, base + done, bytes.count - done)
      }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        let reason = errno == ENOSPC ? "no space left on the local disk" : String(cString: strerror(errno))
        throw CairnError(.ioError, "writing '\(path)' locally failed: \(reason)")
      }
      done += n
    }
  }

  static func isAllZero(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { raw in
      guard let p = raw.baseAddress else { return true }
      let words = raw.count / 8
      for i in 0..<words where p.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) != 0 { return false }
      for i in (words * 8)..<raw.count where raw[i] != 0 { return false }
      return true
    }
  }
}
