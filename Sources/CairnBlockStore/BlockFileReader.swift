import CairnCore
import Glibc

/// Decodes and verifies one block file. Memory is bounded by the block's raw length plus one
/// stored segment.
enum BlockFileReader {
  /// The verified raw bytes, or why the file is corrupt. Throws only for I/O errors.
  static func read(fd: Int32, fileBytes: Int, path: String, address: BlockAddress) throws(CairnError) -> Result<
    [UInt8], FormatError
  > {
    var headerBuffer = [UInt8](repeating: 0, count: BlockFileFormat.headerBytes)
    let headerRead = try POSIX.readExactly(
      fd, into: &headerBuffer, count: BlockFileFormat.headerBytes, offset: 0, path: path)
    guard headerRead else { return .failure(FormatError("file is shorter than a header")) }
    let header: BlockFileFormat.Header
    switch headerBuffer.withUnsafeBytes({ BlockFileFormat.decodeHeader($0) }) {
    case .success(let decoded): header = decoded
    case .failure(let error): return .failure(error)
    }
    guard header.address == address else { return .failure(FormatError("file holds block \(header.address)")) }

    var output: [UInt8] = []
    output.reserveCapacity(header.rawLength)
    var hasher = SHA256Hasher()
    var stored = [UInt8](repeating: 0, count: min(header.segmentRawBytes, header.rawLength))
    var segmentHeader = [UInt8](repeating: 0, count: BlockFileFormat.segmentHeaderBytes)
    var offset = BlockFileFormat.headerBytes
    for index in 0..<header.segmentCount {
      let expected = min(header.segmentRawBytes, header.rawLength - index * header.segmentRawBytes)
      let gotHeader = try POSIX.readExactly(
        fd, into: &segmentHeader, count: BlockFileFormat.segmentHeaderBytes, offset: offset, path: path)
      guard gotHeader else { return .failure(FormatError("segment \(index) is missing")) }
      offset += BlockFileFormat.segmentHeaderBytes
      let segment: BlockFileFormat.SegmentHeader
      switch segmentHeader.withUnsafeBytes({ BlockFileFormat.decodeSegmentHeader($0, expectedRawBytes: expected) }) {
      case .success(let decoded): segment = decoded
      case .failure(let error): return .failure(FormatError("segment \(index): \(error.reason)"))
      }
      guard offset + segment.storedLength <= fileBytes else {
        return .failure(FormatError("segment \(index) is truncated"))
      }
      let gotBody = try POSIX.readExactly(fd, into: &stored, count: segment.storedLength, offset: offset, path: path)
      guard gotBody else { return .failure(FormatError("segment \(index) is truncated")) }
      offset += segment.storedLength
      let result: Result<Void, FormatError> = stored.withUnsafeBytes { all in
        let bytes = UnsafeRawBufferPointer(rebasing: all[0..<segment.storedLength])
        guard CRC32C.checksum(bytes) == segment.checksum else {
          return .failure(FormatError("segment \(index) checksum mismatch"))
        }
        switch segment.codec {
        case .raw:
          output.append(contentsOf: bytes)
        case .zstd:
          do throws(CairnError) {
            output += try Zstd.decompress(bytes, rawLength: segment.rawLength)
          } catch {
            return .failure(FormatError("segment \(index): \(error.message)"))
          }
        }
        return .success(())
      }
      if case .failure(let error) = result { return .failure(error) }
    }
    guard offset == fileBytes else {
      return .failure(FormatError("\(fileBytes - offset) unexpected bytes after the last segment"))
    }
    precondition(output.count == header.rawLength, "segment lengths were checked against the header")
    output.withUnsafeBytes { hasher.update($0) }
    guard hasher.finish() == address else { return .failure(FormatError("bytes do not hash to the address")) }
    return .success(output)
  }
}
