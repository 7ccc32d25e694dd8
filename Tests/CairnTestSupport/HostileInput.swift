import CairnCore

/// What a decoder got wrong on hostile input derived from `bytes` (a valid encoding): every
/// strict prefix must be refused with a `.protocolError`; single-byte corruptions and seeded
/// garbage may decode or be refused but must never trap (a trap ends the test process, which
/// is the failure); with `refusesTrailingByte`, `bytes` plus one more byte must be refused.
/// Empty when all is well; the codec suites assert it is empty.
public func hostileInputProblems<T>(
  _ bytes: [UInt8], refusesTrailingByte: Bool = true, _ decode: ([UInt8]) throws(CairnError) -> T
) -> [String] {
  var problems: [String] = []
  for n in 0..<bytes.count {
    do {
      _ = try decode(Array(bytes.prefix(n)))
      problems.append("a \(n)-byte prefix of \(bytes.count) bytes decoded")
    } catch where error.code != .protocolError {
      problems.append("a \(n)-byte prefix gave \(error.code), not protocolError: \(error)")
    } catch {}
  }
  for i in 0..<bytes.count {
    for value: UInt8 in [0x00, 0x01, 0x7F, 0x80, 0xFF, bytes[i] ^ 0x55] {
      var corrupted = bytes
      corrupted[i] = value
      _ = try? decode(corrupted)
    }
  }
  var rng = SeededRandom(seed: UInt64(bytes.count))
  for _ in 0..<200 {
    let garbage = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    _ = try? decode(garbage)
    _ = try? decode(Array(bytes.prefix(1)) + garbage)
  }
  if refusesTrailingByte, (try? decode(bytes + [0])) != nil {
    problems.append("\(bytes.count) bytes plus a trailing byte decoded")
  }
  return problems
}
