import CairnCore
import CairnKV
import Foundation
import XCTest

/// A deliberately naive model of a `KVStore`: a sorted array of pairs.
struct NaiveKVModel {
  var pairs: [(key: Bytes, value: Bytes)] = []

  mutating func apply(_ batch: WriteBatch) {
    for operation in batch.operations {
      switch operation {
      case .put(let k, let v):
        pairs.removeAll { $0.key == k }
        pairs.append((k, v))
      case .delete(let k):
        pairs.removeAll { $0.key == k }
      }
    }
    pairs.sort { $0.key.lexicographicallyPrecedes($1.key) }
  }

  func firstIndex(atOrAfter key: Bytes) -> Int? {
    pairs.firstIndex { !$0.key.lexicographicallyPrecedes(key) }
  }

  func lastIndex(atOrBefore key: Bytes) -> Int? {
    pairs.lastIndex { !key.lexicographicallyPrecedes($0.key) }
  }
}

/// Compares a store's cursors with `NaiveKVModel` over seeded random batches and cursor moves.
/// A failure prints its seed; rerun it with `CAIRN_TEST_SEED=<seed>`.
enum KVModelCheck {
  /// Bytes keys are drawn from: the extremes and their neighbours.
  static let alphabet: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]
  static let rounds = 200
  static let maxBatchOperations = 8
  static let cursorMovesPerRound = 12

  static func seed() -> UInt64 {
    if let text = ProcessInfo.processInfo.environment["CAIRN_TEST_SEED"], let seed = UInt64(text) { return seed }
    return UInt64.random(in: 1...UInt64.max)
  }

  static func randomKey(_ rng: inout SeededRandom) -> Bytes {
    (0..<Int.random(in: 0...3, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? 0 }
  }

  static func run(_ store: any KVStore, file: StaticString = #filePath, line: UInt = #line) throws {
    try run(open: { store }, reopenEveryRounds: nil, file: file, line: line)
  }

  /// With `reopenEveryRounds`, drops every cursor and the store that often and calls `open`
  /// again, so a durable store is also checked on data recovered from its log and table files.
  static func run(
    open: () throws -> any KVStore, reopenEveryRounds: Int?, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    let seed = seed()
    var rng = SeededRandom(seed: seed)
    var current: (any KVStore)? = try open()
    var model = NaiveKVModel()
    // Old cursors with the model as it was when they were made: they must not see later writes.
    var pinned: [(cursor: any KVCursor, model: NaiveKVModel)] = []
    for round in 0..<rounds {
      if let every = reopenEveryRounds, round > 0, round % every == 0 {
        pinned.removeAll()
        current = nil
        current = try open()
      }
      guard let store = current else { return }
      var batch = WriteBatch()
      for _ in 0..<Int.random(in: 1...maxBatchOperations, using: &rng) {
        let key = randomKey(&rng)
        if Bool.random(using: &rng) {
          batch.put(key, [UInt8(round & 0xFF)] + key)
        } else {
          batch.delete(key)
        }
      }
      try store.write(batch, sync: Bool.random(using: &rng))
      model.apply(batch)
      if Int.random(in: 0..<10, using: &rng) == 0 { pinned.append((try store.makeCursor(), model)) }
      if pinned.count > 4 { pinned.removeFirst() }

      var targets = pinned
      targets.append((try store.makeCursor(), model))
      for (cursor, expected) in targets {
        let failure = compareMoves(cursor, expected, &rng)
        if let failure {
          XCTFail(
            "KV model check failed with CAIRN_TEST_SEED=\(seed) in round \(round): \(failure)", file: file, line: line)
          return
        }
      }
    }
  }

  /// Random seeks and steps on `cursor`, mirrored on `model`; returns a description of the first
  /// difference.
  static func compareMoves(_ cursor: any KVCursor, _ model: NaiveKVModel, _ rng: inout SeededRandom) -> String? {
    var index: Int? = nil
    for _ in 0..<cursorMovesPerRound {
      let key = randomKey(&rng)
      let move: String
      switch Int.random(in: 0..<4, using: &rng) {
      case 0:
        cursor.seek(key)
        index = model.firstIndex(atOrAfter: key)
        move = "seek(\(key))"
      case 1:
        cursor.seekForPrev(key)
        index = model.lastIndex(atOrBefore: key)
        move = "seekForPrev(\(key))"
      case 2:
        guard cursor.isValid, let i = index else { continue }
        cursor.next()
        index = i + 1 < model.pairs.count ? i + 1 : nil
        move = "next"
      default:
        guard cursor.isValid, let i = index else { continue }
        cursor.previous()
        index = i > 0 ? i - 1 : nil
        move = "previous"
      }
      guard let i = index else {
        if cursor.isValid { return "after \(move) the cursor is at \(cursor.key), the model is past the end" }
        continue
      }
      guard cursor.isValid else { return "after \(move) the cursor is invalid, the model is at \(model.pairs[i].key)" }
      if cursor.key != model.pairs[i].key || cursor.value != model.pairs[i].value {
        return "after \(move) the cursor is at \(cursor.key)=\(cursor.value), the model at \(model.pairs[i])"
      }
    }
    return nil
  }
}
