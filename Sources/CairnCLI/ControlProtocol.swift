import CairnCore
import CairnVFS
import Foundation

/// One request on a mount's control socket (one JSON line each way).
struct ControlRequest: Codable {
  enum Command: String, Codable { case status, commit, reload, unmount, resolveQueue }
  var command: Command
  var message: String?
  var isStrict: Bool?
  var version: UInt64?
  /// For `resolveQueue`: `drop` or `merge` (QueueResolution).
  var resolution: String?
}

/// The daemon's answer.
struct ControlResponse: Codable {
  var isOK: Bool
  var version: UInt64?
  var error: String?
  var errorCode: UInt16?
  var details: [String]?
  var status: MountStatus?
  /// Set when the commit was queued (degraded mode) rather than published.
  var isQueued: Bool?
  var queuedCommits: Int?
  var key: String?

  static func failure(_ error: CairnError) -> ControlResponse {
    ControlResponse(isOK: false, error: error.message, errorCode: error.code.rawValue, details: error.details)
  }

  var cairnError: CairnError? {
    guard !isOK else { return nil }
    let code = errorCode.flatMap(CairnError.Code.init(rawValue:)) ?? .internalError
    return CairnError(code, error ?? "the mount daemon reported a failure", details: details ?? [])
  }
}

/// Mount helpers shared by `mount`, `run`, `dev up` and the control commands.
enum MountTable {
  /// True when `path` is a mountpoint of this mount namespace (from /proc/self/mountinfo).
  static func isMounted(_ path: String) -> Bool {
    let target = URL(fileURLWithPath: path).standardizedFileURL.path
    guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
    for line in text.split(separator: "\n") {
      let fields = line.split(separator: " ")
      if fields.count > 4, unescape(String(fields[4])) == target { return true }
    }
    return false
  }

  private static func unescape(_ s: String) -> String {
    s.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
      .replacingOccurrences(of: "\\012", with: "\n").replacingOccurrences(of: "\\134", with: "\\")
  }

  /// The default cache directory of a mount: one per (volume, mountpoint), so mounting the same
  /// volume at the same place again finds the staging area a crashed daemon left.
  static func defaultCacheDirectory(volume: String, mountpoint: String) -> String {
    let escaped = URL(fileURLWithPath: mountpoint).standardizedFileURL.path.replacingOccurrences(of: "/", with: "_")
    let base = getuid() == 0 ? "/var/lib/cairn/mounts" : NSHomeDirectory() + "/.cache/cairn/mounts"
    return base + "/\(volume)@\(escaped)"
  }
}
