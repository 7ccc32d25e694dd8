import CairnCore
import Glibc

/// A cheap check that a block file is whole: its header is valid and names the block, and its
/// segment headers add up to exactly the file's size. Reads only the headers (no decompression,
/// no hashing), so a store can check every file when it opens; a file cut short by a power cut
/// (the disk lost writes the file system had acknowledged) fails it and is never offered.
enum BlockFileStructure {
  /// Nil when the file is whole, or why it is not. Throws only for I/O errors.
  static func problem(fd: Int32, fileBytes: Int, path: String, address: BlockAddress) throws(CairnError) -> String? {
    var headerBuffer = [UInt8](repeating: 0, count: BlockFileFormat.headerBytes)
    guard try POSIX.readExactly(fd, into: &headerBuffer, count: BlockFileFormat.headerBytes, offset: 0, path: path)
    else { return "file is shorter than a header" }
    let header: BlockFileFormat.Header
    switch headerBuffer.withUnsafeBytes({ BlockFileFormat.decodeHeader($0) }) {
    case .success(let decoded): header = decoded
    case .failure(let error): return error.reason
    }
    guard header.address == address else { return "file holds block \(header.address)" }
    var segmentHeader = [UInt8](repeating: 0, count: BlockFileFormat.segmentHeaderBytes)
    var offset = BlockFileFormat.headerBytes
    for index in 0..<header.segmentCount {
      let expected = min(header.segmentRawBytes, header.rawLength - index * header.segmentRawBytes)
      guard
        try POSIX.readExactly(
          fd, into: &segmentHeader, count: BlockFileFormat.segmentHeaderBytes, offset: offset, path: path)
      else { return "segment \(index) is missing" }
      offset += BlockFileFormat.segmentHeaderBytes
      switch segmentHeader.withUnsafeBytes({ BlockFileFormat.decodeSegmentHeader($0, expectedRawBytes: expected) }) {
      case .success(let segment): offset += segment.storedLength
      case .failure(let error): return "segment \(index): \(error.reason)"
      }
      guard offset <= fileBytes else { return "segment \(index) is truncated" }
    }
    return offset == fileBytes ? nil : "\(fileBytes - offset) unexpected bytes after the last segment"
  }

  /// Opens `path` and checks it; nil when whole.
  static func problem(path: String, address: BlockAddress) throws(CairnError) -> String? {
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw POSIX.error("open", path) }
    defer { _ = Glibc.close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw POSIX.error("fstat", path) }
    return try problem(fd: fd, fileBytes: Int(info.st_size), path: path, address: address)
  }
}
