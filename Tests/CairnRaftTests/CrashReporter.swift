#if canImport(Glibc)
  import Glibc
#endif

/// Remembers the seed being simulated so that, if the Raft core traps on a broken
/// precondition (which kills the test process), stderr still says which seed to replay.
enum CrashReporter {
  private static let capacity = 96
  nonisolated(unsafe) private static let buffer = UnsafeMutablePointer<UInt8>.allocate(
    capacity: capacity)
  nonisolated(unsafe) private static var length = 0
  nonisolated(unsafe) private static var isInstalled = false

  /// Sets the seed reported on a crash (formatting happens here, not in the signal handler).
  static func setCurrentSeed(_ seed: UInt64) {
    if !isInstalled { install() }
    let text = Array("\nsimulation crashed; replay with CAIRN_SIM_SEED=\(seed)\n".utf8)
    let count = min(text.count, capacity)
    for position in 0..<count { buffer[position] = text[position] }
    length = count
  }

  private static func install() {
    isInstalled = true
    #if canImport(Glibc)
      let handler: @convention(c) (Int32) -> Void = { signalNumber in
        _ = write(2, CrashReporter.buffer, CrashReporter.length)
        signal(signalNumber, SIG_DFL)
        raise(signalNumber)
      }
      signal(SIGILL, handler)
      signal(SIGTRAP, handler)
    #endif
  }
}
