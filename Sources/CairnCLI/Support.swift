import ArgumentParser
import CairnClient
import CairnCore
import CairnTransport
import Foundation

/// Exit statuses of the `cairn` command (documented in docs/cli.md).
public enum ExitStatus {
  public static let failure: Int32 = 1
  /// Bad arguments or input (the same status argument-parser uses, EX_USAGE).
  public static let usage: Int32 = 64
  public static let exists: Int32 = 8
  public static let notFound: Int32 = 3
  public static let conflict: Int32 = 4
  public static let unavailable: Int32 = 5
  public static let unknownOutcome: Int32 = 6
  public static let corrupt: Int32 = 7
  /// A commit was queued in degraded mode: durable on the node, not yet published (not success,
  /// not failure; see docs/cli.md).
  public static let queued: Int32 = 9

  static func of(_ error: CairnError) -> Int32 {
    switch error.code {
    case .invalidArgument, .tooLarge: return usage
    case .alreadyExists, .notADirectory, .isADirectory, .directoryNotEmpty: return exists
    case .notFound: return notFound
    case .conflict: return conflict
    case .unavailable, .timeout, .notLeader: return unavailable
    case .unknownOutcome: return unknownOutcome
    case .corruptBlock: return corrupt
    default: return failure
    }
  }
}

/// Runs a command body, turning a `CairnError` into one line on stderr and an exit status.
func reporting(_ body: () async throws(CairnError) -> Void) async throws {
  do {
    try await body()
  } catch {
    Terminal.error(error.description)
    throw ExitCode(ExitStatus.of(error))
  }
}

/// Output helpers.
enum Terminal {
  static var isInteractive: Bool { isatty(STDERR_FILENO) == 1 }

  static func error(_ message: String) { write(STDERR_FILENO, "cairn: error: \(message)\n") }

  static func note(_ message: String) { write(STDERR_FILENO, "\(message)\n") }

  static func out(_ line: String) { write(STDOUT_FILENO, line + "\n") }

  static func json<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    if let data = try? encoder.encode(value) { write(STDOUT_FILENO, String(decoding: data, as: UTF8.self) + "\n") }
  }

  /// Writes everything, or exits quietly when the reader went away (`cairn … | head`).
  static func write(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { exit(errno == EPIPE ? 0 : 1) }
      done += n
    }
  }

  /// Left-aligned columns.
  static func table(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    var widths = [Int](repeating: 0, count: header.count)
    for row in all { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    for row in all {
      let line = row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
        .joined(separator: "  ")
      out(line)
    }
  }
}

enum Format {
  static func bytes(_ n: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var i = 0
    while v >= 1024 && i < units.count - 1 {
      v /= 1024
      i += 1
    }
    return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
  }

  static func time(_ nanos: Int64) -> String {
    let date = Date(timeIntervalSince1970: Double(nanos) / 1e9)
    let f = DateFormatter()
    f.dateFormat = "yyyy-MM-dd HH:mm:ss"
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: date)
  }

  static func iso(_ nanos: Int64) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date(timeIntervalSince1970: Double(nanos) / 1e9))
  }

  static func kind(_ k: EntryKind) -> String {
    switch k {
    case .file: return "file"
    case .directory: return "dir"
    case .symlink: return "symlink"
    }
  }
}

/// A progress line on stderr, shown only on a terminal; redrawn at most 10 times a second.
final class Progress: @unchecked Sendable {
  private let total: UInt64
  private let label: String
  private var done: UInt64 = 0
  private var lastDraw: UInt64 = 0
  private let lock = NSLock()
  private let enabled: Bool
  private let started = Date()

  init(label: String, total: UInt64) {
    self.label = label
    self.total = total
    enabled = Terminal.isInteractive
  }

  func add(_ n: Int) {
    guard enabled else { return }
    lock.lock()
    defer { lock.unlock() }
    done += UInt64(n)
    let now = UInt64(Date().timeIntervalSince1970 * 1000)
    if now - lastDraw >= 100 || done >= total {
      lastDraw = now
      draw()
    }
  }

  private func draw() {
    let fraction = total == 0 ? 1 : min(1, Double(done) / Double(total))
    let width = 30
    let filled = Int(fraction * Double(width))
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
    let elapsed = max(0.001, Date().timeIntervalSince(started))
    let rate = Format.bytes(UInt64(Double(done) / elapsed))
    Terminal.write(
      STDERR_FILENO, "\r\(label) [\(bar)] \(Int(fraction * 100))% \(Format.bytes(done))/\(Format.bytes(total)) \(rate)/s ")
  }

  func finish() {
    guard enabled else { return }
    lock.lock()
    defer { lock.unlock() }
    draw()
    Terminal.write(STDERR_FILENO, "\n")
  }
}
