/// Recent read latencies per chunk server, for choosing the fastest replica first and for the
/// hedging threshold (a second replica is asked when the first has not answered within about the
/// 95th percentile of recent reads). Pure: the caller passes measured durations.
public struct LatencyTracker: Sendable {
  /// Samples kept for the percentile (a ring).
  public static let windowSamples = 256
  /// Threshold before enough samples exist.
  public static let defaultThresholdNanos: UInt64 = 50_000_000
  /// Lowest threshold (below this, hedging would double the load for nothing).
  public static let minThresholdNanos: UInt64 = 5_000_000
  /// Samples needed before the percentile is trusted.
  public static let minSamples = 20

  private var recent: [UInt64] = []
  private var next = 0
  /// Smoothed latency per server (exponentially weighted, 1/8 per sample).
  private var smoothed: [UInt64: Double] = [:]

  public init() {}

  /// Records a completed read from `serverId` that took `nanos`.
  public mutating func record(_ serverId: UInt64, nanos: UInt64) {
    if recent.count < Self.windowSamples {
      recent.append(nanos)
    } else {
      recent[next] = nanos
      next = (next + 1) % Self.windowSamples
    }
    let previous = smoothed[serverId] ?? Double(nanos)
    smoothed[serverId] = previous + (Double(nanos) - previous) / 8
  }

  /// Records a failed or abandoned read: the server is ranked as if it took `penaltyNanos`.
  public mutating func penalize(_ serverId: UInt64, penaltyNanos: UInt64) {
    smoothed[serverId] = max(smoothed[serverId] ?? 0, Double(penaltyNanos))
  }

  /// The smoothed latency of a server, if any read from it was seen.
  public func estimate(_ serverId: UInt64) -> Double? { smoothed[serverId] }

  /// `servers` fastest first; servers never measured keep their given order after measured ones
  /// that are faster than the median of the measured, and before slower ones.
  public func ordered(_ servers: [UInt64]) -> [UInt64] {
    let known = servers.compactMap { smoothed[$0] }.sorted()
    let neutral = known.isEmpty ? 0 : known[known.count / 2]
    return servers.enumerated().sorted { a, b in
      let x = smoothed[a.element] ?? neutral
      let y = smoothed[b.element] ?? neutral
      return x != y ? x < y : a.offset < b.offset
    }.map(\.element)
  }

  /// How long to wait for the first replica before asking a second: the 95th percentile of
  /// recent reads (at least `minThresholdNanos`), or `defaultThresholdNanos` with few samples.
  public func hedgeThresholdNanos() -> UInt64 {
    guard recent.count >= Self.minSamples else { return Self.defaultThresholdNanos }
    let sorted = recent.sorted()
    let index = min(sorted.count - 1, (sorted.count * 95) / 100)
    return max(Self.minThresholdNanos, sorted[index])
  }
}
