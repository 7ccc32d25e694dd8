import CairnCore
import CairnFUSE
import CairnVFS
import Foundation
import Logging

/// Serves a mount's control socket (a unix socket in the cache directory): status, commit, reload
/// and unmount, one JSON request per connection.
final class ControlServer: @unchecked Sendable {
  let path: String
  let fs: VolumeFS
  let onUnmount: @Sendable () -> Void
  let logger: Logger
  private var fd: Int32 = -1

  init(path: String, fs: VolumeFS, logger: Logger, onUnmount: @escaping @Sendable () -> Void) {
    self.path = path
    self.fs = fs
    self.logger = logger
    self.onUnmount = onUnmount
  }

  func start() throws(CairnError) {
    unlink(path)
    fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CairnError(.ioError, "cannot create the control socket") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
      throw CairnError(.invalidArgument, "control socket path '\(path)' is too long (use a shorter --cache-dir)")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (i, b) in bytes.enumerated() { raw[i] = b }
      raw[bytes.count] = 0
    }
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0, listen(fd, 16) == 0 else {
      throw CairnError(.ioError, "cannot listen on '\(path)': \(String(cString: strerror(errno)))")
    }
    chmod(path, 0o600)
    let listener = fd
    let thread = Thread { [self] in
      while true {
        let client = accept(listener, nil, nil)
        if client < 0 {
          if errno == EINTR { continue }
          return
        }
        Thread.detachNewThread { [self] in self.serve(client) }
      }
    }
    thread.start()
  }

  private func serve(_ client: Int32) {
    defer { close(client) }
    var buffer = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 4096)
    while !buffer.contains(UInt8(ascii: "\n")) && buffer.count < 1 << 20 {
      let n = read(client, &chunk, chunk.count)
      if n <= 0 { break }
      buffer += chunk[0..<n]
    }
    let response: ControlResponse
    var unmountAfterReply = false
    if let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(buffer.split(separator: UInt8(ascii: "\n")).first ?? [])) {
      (response, unmountAfterReply) = handle(request)
    } else {
      response = .failure(CairnError(.invalidArgument, "malformed control request"))
    }
    var data = (try? JSONEncoder().encode(response)) ?? Data()
    data.append(UInt8(ascii: "\n"))
    data.withUnsafeBytes { raw in
      var done = 0
      while done < raw.count {
        let n = write(client, raw.baseAddress! + done, raw.count - done)
        if n <= 0 { break }
        done += n
      }
    }
    if unmountAfterReply { onUnmount() }
  }

  static func response(_ outcome: CommitOutcome, fs: VolumeFS) -> ControlResponse {
    switch outcome {
    case .committed(let version): return ControlResponse(isOK: true, version: version)
    case .queued(let position, let key):
      return ControlResponse(isOK: true, version: fs.pinnedVersion, isQueued: true, queuedCommits: position, key: key)
    }
  }

  private func handle(_ request: ControlRequest) -> (ControlResponse, Bool) {
    do throws(VFSError) {
      switch request.command {
      case .status:
        return (ControlResponse(isOK: true, version: fs.pinnedVersion, status: fs.status()), false)
      case .commit:
        let outcome = try fs.commitOrQueue(message: request.message ?? "", mode: request.isStrict == true ? .strict : nil)
        return (Self.response(outcome, fs: fs), false)
      case .resolveQueue:
        guard let resolution = request.resolution.flatMap(QueueResolution.init(rawValue:)) else {
          throw VFSError(.invalid, "resolution must be 'drop' or 'merge'")
        }
        let resolved = try fs.resolveQueuedCommit(resolution)
        do throws(VFSError) { try fs.drainQueue() } catch {
          logger.warning("queue not drained after a resolution", metadata: ["error": "\(error)"])
        }
        return (
          ControlResponse(
            isOK: true, version: fs.pinnedVersion, isQueued: fs.queuedCommitCount > 0,
            queuedCommits: fs.queuedCommitCount, key: resolved.key), false
        )
      case .reload:
        let v = try fs.reload(to: request.version, mode: request.isStrict == true ? .strict : nil)
        return (ControlResponse(isOK: true, version: v), false)
      case .unmount:
        var response = ControlResponse(isOK: true, version: fs.pinnedVersion)
        if fs.hasStagedChanges || fs.queuedCommitCount > 0 {
          response = Self.response(try fs.commitOrQueue(message: request.message ?? "commit on unmount"), fs: fs)
        }
        return (response, true)
      }
    } catch {
      return (.failure(error.cairnError), false)
    }
  }
}
