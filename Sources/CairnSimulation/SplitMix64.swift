/// A tiny, fast, seeded pseudo-random generator (Steele, Lea & Flood's SplitMix64).
/// The simulator draws every decision from one of these, so a seed fixes the whole run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64

  /// Creates a generator; equal seeds give equal sequences.
  public init(seed: UInt64) { state = seed }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A uniform integer in `range` (cheap and deterministic; the tiny modulo bias is harmless).
  public mutating func int(in range: ClosedRange<Int>) -> Int {
    let width = UInt64(range.upperBound - range.lowerBound + 1)
    return range.lowerBound + Int(next() % width)
  }

  /// True with probability `perMille / 1000`.
  public mutating func chance(perMille: Int) -> Bool {
    perMille > 0 && Int(next() % 1000) < perMille
  }

  /// A uniformly chosen element, nil when `elements` is empty.
  public mutating func element<T>(of elements: [T]) -> T? {
    elements.isEmpty ? nil : elements[Int(next() % UInt64(elements.count))]
  }
}
