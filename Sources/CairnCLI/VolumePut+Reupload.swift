import CairnClient
import CairnCore
import CairnTransport
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

extension VolumePut {
  /// Most times a commit is retried after re-uploading blocks it was refused for.
  static let maxReuploads = 3

  /// Commits `changes`; when the metadata service refuses because some blocks are no longer on a
  /// write quorum (a replica died after acknowledging, or garbage collection removed an upload
  /// that waited too long), reads those blocks again from the local files (checking they still
  /// hash to their address), uploads them, and retries with the same idempotency key.
  func commitReuploading(
    _ c: CairnClient, _ volume: VolumeName, changes: [Change], baseVersion: UInt64, message: String,
    sources: [(String, Manifest)], blockBytes: Int, replicas: Int
  ) async throws(CairnError) -> CommitResult {
    let key = UUID().uuidString
    var attempt = 0
    while true {
      do throws(CairnError) {
        return try await c.commit(volume, changes: changes, baseVersion: baseVersion, message: message, idempotencyKey: key)
      } catch {
        guard error.code == .missingBlocks, attempt < Self.maxReuploads else { throw error }
        attempt += 1
        let missing = Set(error.details.compactMap { try? BlockAddress(hex: $0) })
        guard !missing.isEmpty else { throw error }
        Terminal.note("re-uploading \(missing.count) block(s) no longer on a write quorum")
        let blocks = try await Blocking.run { () throws(CairnError) -> [(BlockAddress, [UInt8])] in
          try Self.readBlocks(missing, from: sources, blockBytes: blockBytes)
        }
        // A block garbage collection was deleting may still be on its way out: give it a moment.
        try? await Task.sleep(for: .milliseconds(500 * attempt))
        _ = try await c.blocks.upload(blocks, replicas: replicas)
      }
    }
  }

  /// The bytes of `addresses`, read from the local files whose manifests name them.
  static func readBlocks(_ addresses: Set<BlockAddress>, from sources: [(String, Manifest)], blockBytes: Int)
    throws(CairnError) -> [(BlockAddress, [UInt8])]
  {
    var found: [BlockAddress: [UInt8]] = [:]
    for (path, manifest) in sources where found.count < addresses.count {
      for (index, ref) in manifest.blocks.enumerated() {
        guard let address = ref.address, addresses.contains(address), found[address] == nil else { continue }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CairnError(.notFound, "cannot reopen '\(path)' to upload a block again") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: Int(ref.length))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(ref.length), off_t(index * blockBytes)) }
        guard n == Int(ref.length), BlockAddress.of(bytes) == address else {
          throw CairnError(.ioError, "'\(path)' changed while it was uploaded; nothing was committed")
        }
        found[address] = bytes
      }
    }
    return found.map { ($0.key, $0.value) }
  }
}
