import CairnCore
import Dispatch
import Foundation
import Logging

/// The real wall clock.
public struct SystemClock: WallClock {
  public init() {}
  public func nowNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }
}

/// Monotonic time for timeouts and health checks.
public func monotonicNanos() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Process-wide logging setup: structured key=value lines on stderr.
public enum LoggingSetup {
  private static let once: Void = ()

  public static func bootstrap(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
  }

  /// Parses a level name, naming the valid ones on error.
  public static func level(_ text: String) throws(CairnError) -> Logger.Level {
    guard let level = Logger.Level(rawValue: text.lowercased()) else {
      throw .invalid(
        "unknown log level '\(text)' (use one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    return level
  }
}

/// Waits for SIGTERM or SIGINT.
public enum ShutdownSignal {
  public static func wait() async -> Int32 {
    await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
      let queue = DispatchQueue(label: "cairn.signals")
      let box = SignalBox(continuation: continuation)
      for sig in [SIGTERM, SIGINT] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        source.setEventHandler { box.fire(sig) }
        source.resume()
        box.sources.append(source)
      }
    }
  }
}

private final class SignalBox: @unchecked Sendable {
  var continuation: CheckedContinuation<Int32, Never>?
  var sources: [any DispatchSourceSignal] = []
  init(continuation: CheckedContinuation<Int32, Never>) { self.continuation = continuation }
  func fire(_ sig: Int32) {
    continuation?.resume(returning: sig)
    continuation = nil
  }
}

/// Small file helpers for data directories.
public enum DataDirectory {
  /// Creates `path` (and parents) or fails with a clear error.
  public static func prepare(_ path: String) throws(CairnError) {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw CairnError(.ioError, "cannot create data directory '\(path)': \(error.localizedDescription)")
    }
    guard access(path, W_OK) == 0 else { throw CairnError(.permissionDenied, "data directory '\(path)' is not writable") }
  }

  /// Reads a persistent random 64-bit id from `path`, creating it on first use.
  public static func persistentId(at path: String) throws(CairnError) -> UInt64 {
    if let text = try? String(contentsOfFile: path, encoding: .utf8) {
      guard let id = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), id != 0 else {
        throw CairnError(.invalidArgument, "server id file '\(path)' is corrupt")
      }
      return id
    }
    let id = UInt64.random(in: 1...UInt64(UInt32.max))
    do {
      try "\(id)\n".write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
      throw CairnError(.ioError, "cannot write server id file '\(path)': \(error.localizedDescription)")
    }
    return id
  }
}
