import CairnCore
import Glibc

/// Thin, checked wrappers over the POSIX calls the block store makes. Every failure becomes a
/// `CairnError` naming the operation and path: `.noSpace` for a full disk or quota, `.ioError`
/// (with strerror) for anything else.
enum POSIX {
  /// Permissions of block files and directories (the chunk server owns them).
  static let fileMode: mode_t = 0o644
  static let directoryMode: mode_t = 0o755

  static func error(_ operation: String, _ path: String, _ code: Int32 = errno) -> CairnError {
    let reason = String(cString: strerror(code))
    if code == ENOSPC || code == EDQUOT {
      return CairnError(.noSpace, "chunk server disk is full: \(operation) \(path): \(reason)")
    }
    return CairnError(.ioError, "\(operation) \(path) failed: \(reason)")
  }

  /// Retries `call` while it fails with EINTR.
  static func retrying(_ call: () -> Int32) -> Int32 {
    while true {
      let result = call()
      if result >= 0 || errno != EINTR { return result }
    }
  }

  static func open(_ path: String, _ flags: Int32, mode: mode_t = fileMode) throws(CairnError) -> Int32 {
    let fd = retrying { Glibc.open(path, flags | O_CLOEXEC, mode) }
    guard fd >= 0 else { throw error("open", path) }
    return fd
  }

  /// Writes all of `bytes` at the file's current offset.
  static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(CairnError) {
    var done = 0
    while done < bytes.count {
      let n = Glibc.write(fd, bytes.baseAddress.map { $0 + done }, bytes.count - done)
      if n < 0 {
        if errno == EINTR { continue }
        throw error("write", path)
      }
      // A zero-byte write of a nonempty buffer means the device took nothing: treat as full.
      if n == 0 { throw error("write", path, ENOSPC) }
      done += n
    }
  }

  static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(CairnError) {
    try bytes.withUnsafeBytes { raw in Result { () throws(CairnError) in try writeAll(fd, raw, path: path) } }.get()
  }

  static func readExactly(
    _ fd: Int32, into buffer: inout [UInt8], count: Int, offset: Int, path: String
  ) throws(CairnError) -> Bool {
    try buffer.withUnsafeMutableBytes { raw in
      Result { () throws(CairnError) in try readExactly(fd, into: raw, count: count, offset: offset, path: path) }
    }.get()
  }

  /// Reads exactly `count` bytes at `offset` into `buffer`; returns false at a premature end of file.
  static func readExactly(
    _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, count: Int, offset: Int, path: String
  ) throws(CairnError) -> Bool {
    precondition(count <= buffer.count, "read past the end of the buffer")
    var done = 0
    while done < count {
      let n = pread(fd, buffer.baseAddress.map { $0 + done }, count - done, off_t(offset + done))
      if n < 0 {
        if errno == EINTR { continue }
        throw error("read", path)
      }
      if n == 0 { return false }
      done += n
    }
    return true
  }

  static func fsync(_ fd: Int32, path: String) throws(CairnError) {
    guard retrying({ Glibc.fsync(fd) }) == 0 else { throw error("fsync", path) }
  }

  /// Makes a directory's entries (a rename, link or new file) durable.
  static func fsyncDirectory(_ path: String) throws(CairnError) {
    let fd = try open(path, O_RDONLY | O_DIRECTORY)
    defer { _ = Glibc.close(fd) }
    try fsync(fd, path: path)
  }

  /// Creates `path` if missing; returns true when it was created (its parent then needs an fsync).
  @discardableResult
  static func makeDirectory(_ path: String) throws(CairnError) -> Bool {
    if mkdir(path, directoryMode) == 0 { return true }
    let code = errno
    var info = stat()
    if code == EEXIST, stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { return false }
    throw error("mkdir", path, code)
  }

  /// Creates `path` and any missing parents.
  static func makeDirectories(_ path: String) throws(CairnError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
      prefix += component
      try makeDirectory(prefix)
      prefix += "/"
    }
  }

  /// The names in a directory, without "." and "..".
  static func listDirectory(_ path: String) throws(CairnError) -> [String] {
    guard let dir = opendir(path) else { throw error("opendir", path) }
    defer { closedir(dir) }
    var names: [String] = []
    while true {
      errno = 0
      guard let entry = readdir(dir) else {
        if errno != 0 { throw error("readdir", path) }
        return names
      }
      let name = withUnsafePointer(to: &entry.pointee.d_name) {
        String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
      }
      if name != "." && name != ".." { names.append(name) }
    }
  }

  /// The size of the file at `path`, or nil when it does not exist.
  static func fileSize(_ path: String) throws(CairnError) -> Int? {
    var info = stat()
    if stat(path, &info) == 0 { return Int(info.st_size) }
    if errno == ENOENT { return nil }
    throw error("stat", path)
  }

  static func exists(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
  }
}
