/// A token bucket over bytes: repair and scrubbing take tokens before doing I/O so they never use
/// more than their configured rate. Pure: the caller passes the time.
public struct ByteRateLimiter: Sendable {
  public let bytesPerSecond: Double
  /// Largest burst, in bytes (one second's worth, at least one block).
  public let burstBytes: Double
  private var tokens: Double
  private var lastNanos: UInt64?

  public init(bytesPerSecond: Double, burstBytes: Double) {
    precondition(bytesPerSecond > 0 && burstBytes > 0, "a rate limit is positive")
    self.bytesPerSecond = bytesPerSecond
    self.burstBytes = burstBytes
    tokens = burstBytes
  }

  /// Takes `bytes` tokens at time `nowNanos`; returns how long to wait first (0: go now). The
  /// tokens are taken either way, so callers that wait the returned time stay within the rate.
  public mutating func take(_ bytes: Int, nowNanos: UInt64) -> UInt64 {
    if let lastNanos, nowNanos > lastNanos {
      tokens = min(burstBytes, tokens + Double(nowNanos - lastNanos) * bytesPerSecond / 1e9)
    }
    lastNanos = max(lastNanos ?? nowNanos, nowNanos)
    tokens -= Double(bytes)
    guard tokens < 0 else { return 0 }
    return UInt64(-tokens / bytesPerSecond * 1e9)
  }
}
