import CZstd
import CairnCore

/// A checked wrapper around zstd's one-shot API.
public enum Zstd {
  /// `ZSTD_CONTENTSIZE_ERROR`: the frame header is not a valid zstd frame.
  private static let contentSizeError = UInt64.max - 1
  /// `ZSTD_CONTENTSIZE_UNKNOWN`: the frame does not declare its decompressed size.
  private static let contentSizeUnknown = UInt64.max

  /// Compresses `input` at `level` (1 is fastest) into one zstd frame.
  public static func compress(_ input: UnsafeRawBufferPointer, level: Int32) throws(CairnError) -> [UInt8] {
    let capacity = ZSTD_compressBound(input.count)
    var result = 0
    let output = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
      result = ZSTD_compress(buffer.baseAddress, capacity, input.baseAddress, input.count, level)
      initialized = ZSTD_isError(result) != 0 ? 0 : result
    }
    if ZSTD_isError(result) != 0 {
      throw CairnError(.internalError, "zstd compression failed: \(errorName(result))")
    }
    return output
  }

  /// Compresses `input` at `level` into one zstd frame.
  public static func compress(_ input: [UInt8], level: Int32) throws(CairnError) -> [UInt8] {
    try input.withUnsafeBytes { raw in Result { () throws(CairnError) in try compress(raw, level: level) } }.get()
  }

  /// Decompresses one zstd frame that must hold exactly `rawLength` bytes. Refuses (with
  /// `.corruptBlock`) a frame that is malformed, declares another size, or would produce more
  /// than `rawLength` bytes; never allocates more than `rawLength` bytes for the output.
  public static func decompress(_ input: UnsafeRawBufferPointer, rawLength: Int) throws(CairnError) -> [UInt8] {
    precondition(rawLength >= 0, "a raw length is never negative")
    let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
    if declared == contentSizeError {
      throw CairnError(.corruptBlock, "zstd frame header is malformed")
    }
    if declared != contentSizeUnknown && declared != UInt64(rawLength) {
      throw CairnError(.corruptBlock, "zstd frame declares \(declared) bytes, expected \(rawLength)")
    }
    var result = 0
    let output = [UInt8](unsafeUninitializedCapacity: rawLength) { buffer, initialized in
      result = ZSTD_decompress(buffer.baseAddress, rawLength, input.baseAddress, input.count)
      initialized = ZSTD_isError(result) != 0 ? 0 : result
    }
    if ZSTD_isError(result) != 0 {
      throw CairnError(.corruptBlock, "zstd frame is corrupt: \(errorName(result))")
    }
    guard result == rawLength else {
      throw CairnError(.corruptBlock, "zstd frame holds \(result) bytes, expected \(rawLength)")
    }
    return output
  }

  private static func errorName(_ code: Int) -> String {
    guard let name = ZSTD_getErrorName(code) else { return "error \(code)" }
    return String(cString: name)
  }
}
