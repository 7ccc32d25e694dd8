import CairnCore
import Glibc
import Synchronization

/// One streaming put: created by `BlockStore.beginPut`, fed with `append`, completed with
/// `finish` or dropped with `abort`. Memory is bounded by one segment (`Limits.bodyChunkBytes`)
/// plus its compressed form, whatever the block size.
///
/// Until `finish` returns, nothing is visible under the block's address: bytes go to a temporary
/// file under `tmp/`, which `abort`, any error, or deinit removes.
///
/// Thread-safe (calls are serialized by a lock), so a writer can be handed from an event loop to
/// a thread pool chunk by chunk; the caller keeps the chunks in order.
public final class BlockWriter: @unchecked Sendable {
  /// What `finish` did.
  public enum Outcome: Sendable, Equatable {
    /// The block was written and is durable.
    case stored
    /// The block was already present; the incoming bytes were verified and discarded.
    case alreadyPresent
  }

  private enum State: Equatable {
    case open
    case finished
    case failed(CairnError)
  }

  /// The address the bytes must hash to.
  public let address: BlockAddress
  /// The number of bytes the block must have.
  public let length: Int
  private let store: BlockStore
  private var hasher: SHA256Hasher? = SHA256Hasher()
  private var receivedBytes = 0
  private var state = State.open
  /// The temporary file, or nil when the block already exists and the bytes are only verified.
  private var fd: Int32?
  private let temporaryPath: String
  private var segment: [UInt8] = []
  private var storedBytes = 0
  /// Serializes every use of the mutable state above (`@unchecked Sendable` rests on it).
  private let lock = Mutex(())

  init(store: BlockStore, address: BlockAddress, length: Int, alreadyPresent: Bool) throws(CairnError) {
    self.store = store
    self.address = address
    self.length = length
    temporaryPath = store.temporaryPath(for: address)
    guard !alreadyPresent else { return }
    segment.reserveCapacity(min(length, BlockFileFormat.segmentRawBytes))
    let fd = try POSIX.open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL)
    self.fd = fd
    let header = BlockFileFormat.encode(
      BlockFileFormat.Header(
        rawLength: length, segmentCount: BlockFileFormat.segmentCount(rawLength: length),
        segmentRawBytes: BlockFileFormat.segmentRawBytes, address: address))
    do throws(CairnError) {
      try POSIX.writeAll(fd, header, path: temporaryPath)
    } catch {
      discardTemporaryFile()
      state = .failed(error)
      throw error
    }
    storedBytes = header.count
  }

  deinit {
    if state == .open { discardTemporaryFile() }
  }

  /// Hashes `chunk` and writes it (as compressed segments) to the temporary file. Fails, and
  /// abandons the put, when the bytes exceed the declared length or the disk is full.
  public func append<Bytes: ContiguousBytes>(_ chunk: Bytes) throws(CairnError) {
    try lock.withLock { _ throws(CairnError) in try appendLocked(chunk) }
  }

  private func appendLocked<Bytes: ContiguousBytes>(_ chunk: Bytes) throws(CairnError) {
    try checkOpen()
    let result: CairnError? = chunk.withUnsafeBytes { raw in
      guard raw.count <= length - receivedBytes else {
        return CairnError(.invalidArgument, "block \(address): more than the declared \(length) bytes were sent")
      }
      receivedBytes += raw.count
      hasher?.update(raw)
      guard fd != nil else { return nil }
      var rest = raw[...]
      while !rest.isEmpty {
        let take = min(rest.count, BlockFileFormat.segmentRawBytes - segment.count)
        segment.append(contentsOf: rest.prefix(take))
        rest = rest.dropFirst(take)
        if segment.count == BlockFileFormat.segmentRawBytes {
          do throws(CairnError) { try writeSegment() } catch { return error }
        }
      }
      return nil
    }
    if let result {
      fail(result)
      throw result
    }
  }

  /// Checks length and SHA-256 against the address, makes the file durable and moves it into
  /// place. On a mismatch nothing becomes visible and the error (`.invalidArgument` for a short
  /// body, `.corruptBlock` for a hash mismatch) names the address.
  @discardableResult
  public func finish() throws(CairnError) -> Outcome {
    try lock.withLock { _ throws(CairnError) in try finishLocked() }
  }

  private func finishLocked() throws(CairnError) -> Outcome {
    try checkOpen()
    guard receivedBytes == length else {
      throw fail(CairnError(.invalidArgument, "block \(address): received \(receivedBytes) bytes, expected \(length)"))
    }
    guard let digest = hasher.take()?.finish(), digest == address else {
      throw fail(CairnError(.corruptBlock, "block \(address): the bytes received do not hash to the address"))
    }
    guard let fd else {
      state = .finished
      return .alreadyPresent
    }
    do throws(CairnError) {
      if !segment.isEmpty { try writeSegment() }
      try POSIX.fsync(fd, path: temporaryPath)
      self.fd = nil
      guard Glibc.close(fd) == 0 else { throw POSIX.error("close", temporaryPath) }
      let outcome = try store.install(temporaryPath: temporaryPath, address: address, storedBytes: storedBytes)
      state = .finished
      return outcome
    } catch {
      throw fail(error)
    }
  }

  /// Abandons the put; nothing becomes visible. Safe to call more than once, and after a failure.
  public func abort() {
    lock.withLock { _ in
      guard state == .open else { return }
      fail(CairnError(.invalidArgument, "block \(address): the put was aborted"))
    }
  }

  /// Refuses calls after `finish`, `abort` or a failure; they are a caller's mistake or a peer
  /// that keeps sending after an error, and must not bring the server down.
  private func checkOpen() throws(CairnError) {
    switch state {
    case .open: return
    case .finished: throw CairnError(.invalidArgument, "block \(address): the put has already finished")
    case .failed(let error): throw error
    }
  }

  /// Marks the put failed, removes its temporary file, and returns `error` for throwing.
  @discardableResult
  private func fail(_ error: CairnError) -> CairnError {
    state = .failed(error)
    discardTemporaryFile()
    return error
  }

  private func discardTemporaryFile() {
    if let fd {
      _ = Glibc.close(fd)
      self.fd = nil
    }
    _ = unlink(temporaryPath)
    segment = []
  }

  /// Writes the buffered segment, compressed when that is smaller.
  private func writeSegment() throws(CairnError) {
    guard let fd else { return }
    precondition(!segment.isEmpty && segment.count <= BlockFileFormat.segmentRawBytes, "segment size out of bounds")
    let compressed = try Zstd.compress(segment, level: store.options.compressionLevel)
    let useZstd = compressed.count < segment.count
    let stored = useZstd ? compressed : segment
    var record: [UInt8] = []
    record.reserveCapacity(BlockFileFormat.segmentHeaderBytes + stored.count)
    BlockFileFormat.encode(
      BlockFileFormat.SegmentHeader(
        codec: useZstd ? .zstd : .raw, rawLength: segment.count, storedLength: stored.count,
        checksum: CRC32C.checksum(stored)),
      into: &record)
    record += stored
    try POSIX.writeAll(fd, record, path: temporaryPath)
    storedBytes += record.count
    segment.removeAll(keepingCapacity: true)
  }
}
