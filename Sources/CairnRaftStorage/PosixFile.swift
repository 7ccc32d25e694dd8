import CairnCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A thin owner of a POSIX file descriptor: positional reads and writes, fsync, and errors that
/// name the path. The snapshot helpers use it so that durability points are explicit.
final class PosixFile {
  let path: String
  private let fd: Int32

  private init(path: String, fd: Int32) {
    self.path = path
    self.fd = fd
  }

  deinit { _ = close(fd) }

  static func openForReading(_ path: String) throws(CairnError) -> PosixFile {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw posixError("cannot open \(path) for reading") }
    return PosixFile(path: path, fd: fd)
  }

  /// Creates `path`, or truncates it if it exists.
  static func create(_ path: String) throws(CairnError) -> PosixFile {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw posixError("cannot create \(path)") }
    return PosixFile(path: path, fd: fd)
  }

  static func openForWriting(_ path: String) throws(CairnError) -> PosixFile {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw posixError("cannot open \(path) for writing") }
    return PosixFile(path: path, fd: fd)
  }

  /// The file's size in bytes.
  func size() throws(CairnError) -> UInt64 {
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw Self.posixError("cannot stat \(path)") }
    return UInt64(info.st_size)
  }

  /// Reads exactly `count` bytes at `offset` (fewer only at the end of the file).
  func read(at offset: UInt64, count: Int) throws(CairnError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
      let n = buffer.withUnsafeMutableBytes { raw in
        pread(fd, raw.baseAddress.map { $0 + done }, count - done, off_t(offset) + off_t(done))
      }
      if n < 0, errno == EINTR { continue }
      guard n >= 0 else { throw Self.posixError("cannot read \(path)") }
      if n == 0 { break }
      done += n
    }
    return Array(buffer.prefix(done))
  }

  /// Writes all of `bytes` at `offset`.
  func write(_ bytes: [UInt8], at offset: UInt64) throws(CairnError) {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { raw in
        pwrite(fd, raw.baseAddress.map { $0 + done }, bytes.count - done, off_t(offset) + off_t(done))
      }
      if n < 0, errno == EINTR { continue }
      guard n > 0 else { throw Self.posixError("cannot write \(path)") }
      done += n
    }
  }

  func sync() throws(CairnError) {
    guard fsync(fd) == 0 else { throw Self.posixError("cannot fsync \(path)") }
  }

  /// Fsyncs a directory, making the names created, renamed or removed in it durable.
  static func syncDirectory(_ path: String) throws(CairnError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw posixError("cannot open directory \(path)") }
    defer { _ = close(fd) }
    guard fsync(fd) == 0 else { throw posixError("cannot fsync directory \(path)") }
  }

  static func rename(_ from: String, to: String) throws(CairnError) {
    guard systemRename(from, to) == 0 else { throw posixError("cannot rename \(from) to \(to)") }
  }

  static func makeDirectory(_ path: String) throws(CairnError) {
    guard mkdir(path, 0o755) == 0 else { throw posixError("cannot create directory \(path)") }
  }

  static func posixError(_ message: String) -> CairnError {
    let code = errno
    let reason = String(cString: strerror(code))
    if code == ENOSPC { return CairnError(.noSpace, "\(message): \(reason)") }
    return CairnError(.ioError, "\(message): \(reason)")
  }
}

/// `rename(2)`, named apart from `PosixFile.rename`.
private func systemRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }
