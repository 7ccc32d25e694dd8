import CairnCore
import Glibc
import Synchronization

/// The chunk server's local block storage: content-addressed blocks (address = SHA-256 of the
/// uncompressed bytes) in a data directory laid out as
///
///     blocks/<2 hex>/<2 hex>/<64 hex>   one file per block (see `BlockFileFormat`)
///     tmp/                              puts in progress; cleared at open
///     quarantine/                       files that failed verification, kept for inspection
///     LOCK                              flock'ed while a store has the directory open
///
/// Every read verifies each segment's CRC and the whole block's SHA-256 before returning a byte;
/// a block that fails is quarantined and reported, never returned. All methods are synchronous
/// and blocking (run them on a thread pool, never on an event loop) and safe to call from any
/// thread.
public final class BlockStore: Sendable {
  /// Tuning knobs.
  public struct Options: Sendable {
    /// zstd level for segments (1: fastest; higher levels cost CPU for a little more space).
    public var compressionLevel: Int32
    /// Most corrupt addresses remembered for `corruptBlocks()` (the counter keeps counting).
    public var maxRecordedCorruptBlocks: Int

    /// Level 1 by default: on 4 MiB blocks level 3 saved about 2% more space for no speed gain.
    public init(compressionLevel: Int32 = 1, maxRecordedCorruptBlocks: Int = 10_000) {
      self.compressionLevel = compressionLevel
      self.maxRecordedCorruptBlocks = maxRecordedCorruptBlocks
    }
  }

  /// Counters and filesystem figures for capacity planning and `cairn cluster status`.
  public struct Stats: Sendable, Equatable {
    /// Blocks stored.
    public var blockCount: Int
    /// Bytes of block files on disk (after compression, with headers).
    public var storedBytes: Int
    /// Size of the filesystem holding the data directory.
    public var capacityBytes: Int
    /// Bytes an unprivileged writer can still use on that filesystem.
    public var freeBytes: Int
    /// Blocks found corrupt (and quarantined) since the store was opened.
    public var corruptBlockCount: Int
  }

  /// Result of re-verifying one block at rest.
  public enum ScrubResult: Sendable, Equatable {
    /// The block is present and verified.
    case healthy
    /// No such block is stored.
    case missing
    /// The block failed verification and was moved to quarantine.
    case quarantined(CairnError)
  }

  private struct Counters {
    var blockCount = 0
    var storedBytes = 0
    var corruptBlockCount = 0
    var corruptBlocks: [BlockAddress] = []
    var nextTemporaryID: UInt64 = 0
  }

  /// The data directory.
  public let directory: String
  let options: Options
  private let blocksDirectory: String
  private let temporaryDirectory: String
  private let quarantineDirectory: String
  private let lockFD: Int32
  private let counters = Mutex(Counters())

  /// Opens (creating if needed) the store in `directory`: takes the directory lock, clears
  /// leftovers of interrupted puts from `tmp/`, quarantines block files that are not whole (they
  /// are listed by `corruptBlocks()`), and counts the blocks present.
  ///
  /// Throws `.unavailable` when another process (or another store in this one) has it open.
  public init(directory: String, options: Options = Options()) throws(CairnError) {
    precondition(options.maxRecordedCorruptBlocks >= 0, "a bound is never negative")
    self.directory = directory
    self.options = options
    blocksDirectory = directory + "/blocks"
    temporaryDirectory = directory + "/tmp"
    quarantineDirectory = directory + "/quarantine"
    try POSIX.makeDirectories(directory)
    let lockPath = directory + "/LOCK"
    let lockFD = try POSIX.open(lockPath, O_RDWR | O_CREAT)
    guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
      let code = errno
      _ = Glibc.close(lockFD)
      if code == EWOULDBLOCK {
        throw CairnError(.unavailable, "data directory \(directory) is in use by another process")
      }
      throw POSIX.error("flock", lockPath, code)
    }
    self.lockFD = lockFD
    for path in [blocksDirectory, temporaryDirectory, quarantineDirectory] { try POSIX.makeDirectory(path) }
    for name in try POSIX.listDirectory(temporaryDirectory) {
      let path = temporaryDirectory + "/" + name
      guard unlink(path) == 0 || errno == ENOENT else { throw POSIX.error("unlink", path) }
    }
    // Every block file must be whole: one cut short by a power cut (or any torn write the disk
    // acknowledged) is quarantined now, so it is never offered by `has` or served.
    var count = 0
    var bytes = 0
    for address in try inventory() {
      let path = path(for: address)
      guard let size = try POSIX.fileSize(path) else { continue }
      if let problem = try BlockFileStructure.problem(path: path, address: address) {
        _ = quarantine(address, path: path, reason: problem, counted: false)
        continue
      }
      count += 1
      bytes += size
    }
    counters.withLock {
      $0.blockCount = count
      $0.storedBytes = bytes
    }
  }

  deinit {
    // Closing the descriptor releases the flock.
    _ = Glibc.close(lockFD)
  }

  // MARK: Writing

  /// Starts a streaming put of a block of `length` bytes that must hash to `address`. When the
  /// block is already present the writer only verifies the bytes and `finish` is a cheap success.
  /// Refuses a length beyond `Limits.maxBlockBytes` with `.tooLarge`.
  public func beginPut(address: BlockAddress, length: Int) throws(CairnError) -> BlockWriter {
    guard length >= 0 else { throw CairnError(.invalidArgument, "block \(address): negative length \(length)") }
    guard length <= Limits.maxBlockBytes else {
      throw CairnError(
        .tooLarge, "block \(address): \(length) bytes exceeds the largest block (\(Limits.maxBlockBytes) bytes)")
    }
    return try BlockWriter(
      store: self, address: address, length: length, alreadyPresent: POSIX.exists(path(for: address)))
  }

  /// Stores `bytes` under `address` in one call (a put with a single chunk).
  @discardableResult
  public func put(_ bytes: [UInt8], address: BlockAddress) throws(CairnError) -> BlockWriter.Outcome {
    let writer = try beginPut(address: address, length: bytes.count)
    try writer.append(bytes)
    return try writer.finish()
  }

  /// A fresh, unique path under `tmp/` for a put of `address`.
  func temporaryPath(for address: BlockAddress) -> String {
    let id = counters.withLock { counters in
      counters.nextTemporaryID += 1
      return counters.nextTemporaryID
    }
    return "\(temporaryDirectory)/\(address.hex).\(id).tmp"
  }

  /// Moves a complete, fsynced temporary file into place and makes the new name durable. A
  /// hard link, not a rename, so that two concurrent puts of one address count the block once.
  func install(temporaryPath: String, address: BlockAddress, storedBytes: Int) throws(CairnError) -> BlockWriter.Outcome
  {
    let (outer, inner) = directories(for: address)
    if try POSIX.makeDirectory(outer) { try POSIX.fsyncDirectory(blocksDirectory) }
    if try POSIX.makeDirectory(inner) { try POSIX.fsyncDirectory(outer) }
    let target = path(for: address)
    defer { _ = unlink(temporaryPath) }
    guard link(temporaryPath, target) == 0 else {
      if errno == EEXIST { return .alreadyPresent }
      throw POSIX.error("link", target)
    }
    do throws(CairnError) {
      try POSIX.fsyncDirectory(inner)
    } catch {
      // The block's directory entry may not be durable: do not acknowledge it, and do not keep it.
      _ = unlink(target)
      throw error
    }
    counters.withLock {
      $0.blockCount += 1
      $0.storedBytes += storedBytes
    }
    return .stored
  }

  // MARK: Reading

  /// The bytes of block `address`, verified against every segment CRC and the address itself.
  /// Throws `.notFound` when absent and `.corruptBlock` (after quarantining the file) when the
  /// stored bytes fail verification or cannot be read (an I/O error: the copy is as good as
  /// lost, so it is moved aside like a corrupt one and repair makes a new copy elsewhere before
  /// it is deleted); never returns wrong bytes.
  public func read(_ address: BlockAddress) throws(CairnError) -> [UInt8] {
    let path = path(for: address)
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      if errno == ENOENT { throw CairnError(.notFound, "block \(address) is not on this chunk server") }
      let error = POSIX.error("open", path)
      if error.code == .ioError { throw quarantine(address, path: path, reason: "unreadable: \(error.message)") }
      throw error
    }
    defer { _ = Glibc.close(fd) }
    var info = stat()
    let outcome: Result<[UInt8], FormatError>
    do throws(CairnError) {
      guard fstat(fd, &info) == 0 else { throw POSIX.error("fstat", path) }
      outcome = try BlockFileReader.read(fd: fd, fileBytes: Int(info.st_size), path: path, address: address)
    } catch {
      guard error.code == .ioError else { throw error }
      throw quarantine(address, path: path, reason: "unreadable: \(error.message)")
    }
    switch outcome {
    case .success(let bytes):
      return bytes
    case .failure(let reason):
      throw quarantine(address, path: path, reason: reason.reason)
    }
  }

  /// Re-reads and re-hashes one block at rest, for a background scrubber. A corrupt block is
  /// quarantined (as by `read`). Throws only for I/O errors.
  public func scrub(_ address: BlockAddress) throws(CairnError) -> ScrubResult {
    do {
      _ = try read(address)
      return .healthy
    } catch  where error.code == .notFound {
      return .missing
    } catch  where error.code == .corruptBlock {
      return .quarantined(error)
    }
  }

  /// Which of `addresses` are present, in the same order.
  public func has(_ addresses: [BlockAddress]) -> [Bool] {
    addresses.map { POSIX.exists(path(for: $0)) }
  }

  /// Removes block `address`; returns false when it was not there.
  @discardableResult
  public func delete(_ address: BlockAddress) throws(CairnError) -> Bool {
    let path = path(for: address)
    let size = try POSIX.fileSize(path)
    guard unlink(path) == 0 else {
      if errno == ENOENT { return false }
      throw POSIX.error("unlink", path)
    }
    counters.withLock {
      $0.blockCount -= 1
      $0.storedBytes -= size ?? 0
    }
    return true
  }

  /// Every block address on disk, sorted. Files whose names are not addresses are ignored.
  public func inventory() throws(CairnError) -> [BlockAddress] {
    var out: [BlockAddress] = []
    for outer in try POSIX.listDirectory(blocksDirectory) where outer.utf8.count == 2 {
      for inner in try POSIX.listDirectory(blocksDirectory + "/" + outer) where inner.utf8.count == 2 {
        for name in try POSIX.listDirectory(blocksDirectory + "/" + outer + "/" + inner) {
          guard let address = try? BlockAddress(hex: name), address.hex == name, name.hasPrefix(outer + inner)
          else { continue }
          out.append(address)
        }
      }
    }
    return out.sorted()
  }

  /// Block counters and the filesystem's capacity and free space.
  public func stats() throws(CairnError) -> Stats {
    var fs = statvfs()
    guard statvfs(directory, &fs) == 0 else { throw POSIX.error("statvfs", directory) }
    let blockSize = Int(fs.f_frsize)
    return counters.withLock {
      Stats(
        blockCount: $0.blockCount, storedBytes: $0.storedBytes, capacityBytes: Int(fs.f_blocks) * blockSize,
        freeBytes: Int(fs.f_bavail) * blockSize, corruptBlockCount: $0.corruptBlockCount)
    }
  }

  /// The most recently quarantined addresses (at most `Options.maxRecordedCorruptBlocks`).
  public func corruptBlocks() -> [BlockAddress] { counters.withLock { $0.corruptBlocks } }

  // MARK: Paths and quarantine

  private func directories(for address: BlockAddress) -> (outer: String, inner: String) {
    let hex = Array(address.hex.utf8)
    let outer = blocksDirectory + "/" + String(decoding: hex[0..<2], as: UTF8.self)
    return (outer, outer + "/" + String(decoding: hex[2..<4], as: UTF8.self))
  }

  func path(for address: BlockAddress) -> String { directories(for: address).inner + "/" + address.hex }

  /// Moves a block that failed verification out of `blocks/` and records it. Returns the error
  /// to report; a concurrent reader that lost the race to move it reports the same error.
  private func quarantine(_ address: BlockAddress, path: String, reason: String, counted: Bool = true) -> CairnError {
    let error = CairnError(.corruptBlock, "block \(address) is corrupt on this chunk server: \(reason)")
    let size = (try? POSIX.fileSize(path)) ?? nil
    let id = counters.withLock { counters in
      counters.nextTemporaryID += 1
      return counters.nextTemporaryID
    }
    let target = "\(quarantineDirectory)/\(address.hex).\(id)"
    guard rename(path, target) == 0 else { return error }
    counters.withLock {
      if counted {
        $0.blockCount -= 1
        $0.storedBytes -= size ?? 0
      }
      $0.corruptBlockCount += 1
      $0.corruptBlocks.append(address)
      if $0.corruptBlocks.count > options.maxRecordedCorruptBlocks { $0.corruptBlocks.removeFirst() }
    }
    return error
  }
}
