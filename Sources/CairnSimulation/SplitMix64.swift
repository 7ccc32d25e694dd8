import CairnCore

/// The simulator's generator: CairnCore's `SeededRandom` (SplitMix64, Steele, Lea & Flood), so
/// a seed fixes the whole run. The simulator draws every decision from one of these.
public typealias SplitMix64 = SeededRandom

extension SeededRandom {
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
