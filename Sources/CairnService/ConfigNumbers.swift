/// TOML tells integers from floats (`300` is not a float), but a config value in seconds or bytes
/// should accept either.
extension KeyedDecodingContainer {
  /// The number at `key` as a `Double` whether written as an integer or a float; nil if absent.
  public func decodeNumberIfPresent(forKey key: Key) throws -> Double? {
    guard contains(key) else { return nil }
    if let value = try? decode(Double.self, forKey: key) { return value }
    return Double(try decode(Int.self, forKey: key))
  }
}
