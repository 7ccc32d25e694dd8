import CairnCLI
import Foundation
import Glibc

/// The `cairn` executable: everything lives in CairnCLI.
@main
struct CairnMain {
  static func main() async {
    // A closed pipe is an error return from write(2), handled where we write.
    signal(SIGPIPE, SIG_IGN)
    await Cairn.main(arguments())
  }

  /// The arguments. Under libfaketime's LD_PRELOAD (the chaos harness's clock-skew fault) the Swift
  /// runtime sees none, so they are read back from /proc/self/cmdline; nil means "the usual ones".
  static func arguments() -> [String]? {
    guard CommandLine.arguments.count <= 1,
      let data = FileManager.default.contents(atPath: "/proc/self/cmdline")
    else { return nil }
    let all = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    let trimmed = all.last == "" ? Array(all.dropLast()) : all
    return trimmed.count > 1 ? Array(trimmed.dropFirst()) : nil
  }
}
