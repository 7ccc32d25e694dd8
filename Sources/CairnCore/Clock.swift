/// Where cores get the time: passed in, never read inside pure logic.
public protocol WallClock: Sendable {
  /// Nanoseconds since the Unix epoch.
  func nowNanos() -> Int64
}

/// A seeded, reproducible pseudo-random generator (SplitMix64) for simulations and placement.
public struct SeededRandom: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Stable 64-bit hash (FNV-1a then a SplitMix finalizer) for placement and sharding; unlike
/// `Hasher` it is the same in every process.
public func stableHash64(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
  var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
  for b in bytes {
    h ^= UInt64(b)
    h = h &* 0x0000_0100_0000_01B3
  }
  h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
  h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
  return h ^ (h >> 31)
}
