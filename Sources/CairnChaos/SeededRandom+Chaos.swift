import CairnCore

/// The chaos harness draws from CairnCore's `SeededRandom` (SplitMix64), so a scenario's choices
/// replay from its seed (`ScenarioParserTests.testTheSeededGeneratorReplaysKnownValues`).
extension SeededRandom {
  /// A value in `0..<bound`.
  public mutating func next(below bound: Int) -> Int {
    precondition(bound > 0, "bound must be positive")
    return Int(next() % UInt64(bound))
  }

  /// A value in `0..<1`.
  public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
