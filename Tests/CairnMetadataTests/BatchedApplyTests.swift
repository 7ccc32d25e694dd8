import CairnCore
import CairnKV
import CairnMetadata
import XCTest

/// `MetadataStateMachine.applyAll`: a batch of commands applied with one store write ends in
/// exactly the store, results and applied index of the same commands applied one at a time —
/// later commands of a batch see the writes of earlier ones (same paths rewritten, renamed,
/// deleted; retention pruning of versions written in the same batch; repeated idempotency keys;
/// failures in the middle).
final class BatchedApplyTests: XCTestCase {
  func commands(seed: UInt64) throws -> [MetadataCommand] {
    var rng = SeededRandom(seed: seed)
    let volume = try VolumeName("v")
    var time: Int64 = 1_000
    var out: [MetadataCommand] = [
      .createVolume(
        volume, VolumeSettings(blockBytes: 65536, replicationFactor: 1, retainedVersions: 3), timeNanos: time)
    ]
    let paths = try ["/a", "/b", "/d/x", "/d/y", "/d/e/z"].map { try VolumePath($0) }
    for i in 0..<120 {
      time += 1_000
      let path = paths.randomElement(using: &rng)!
      let other = paths.randomElement(using: &rng)!
      let change: Change
      switch Int.random(in: 0..<6, using: &rng) {
      case 0, 1, 2: change = .put(path, .file(Manifest(), Attributes(mode: 0o100644, mtimeNanos: time)))
      case 3: change = .delete(path, recursive: true)
      case 4: change = .rename(from: path, to: other, replace: true)
      default: change = .put(path.parent, .directory(Attributes(mode: 0o040755, mtimeNanos: time)))
      }
      // Some keys repeat (a retried commit), some commits are strict against an old base.
      let key = Int.random(in: 0..<5, using: &rng) == 0 ? "k\(i / 2)" : "k-\(i)"
      let mode: CommitMode = Int.random(in: 0..<4, using: &rng) == 0 ? .strict : .merge
      let request = CommitRequest(
        volume: volume, baseVersion: UInt64(Int.random(in: 0...(i / 3), using: &rng)), changes: [change], mode: mode,
        idempotencyKey: key,
        author: "t", message: "")
      out.append(.commit(request, placements: [], timeNanos: time))
    }
    return out
  }

  func describe(_ result: Result<MetadataResult, CairnError>?) -> String {
    switch result {
    case .success(let value)?: return "ok \(value)"
    case .failure(let error)?: return "error \(error.code) \(error.message)"
    case nil: return "none"
    }
  }

  func testBatchesEndWhereSingleAppliesEnd() throws {
    for seed in UInt64(1)...8 {
      let list = try commands(seed: seed)
      let single = try MetadataStateMachine(store: MemoryStore())
      var expected: [String] = []
      for (i, command) in list.enumerated() {
        expected.append(describe(try single.apply(command, at: UInt64(i + 1), sync: false)))
      }
      let batchedStore = MemoryStore()
      let batched = try MetadataStateMachine(store: batchedStore)
      var results: [String] = []
      var index: UInt64 = 1
      var rng = SeededRandom(seed: seed ^ 0xBA7C4)
      var rest = list[...]
      while !rest.isEmpty {
        let size = min(rest.count, Int.random(in: 1...12, using: &rng))
        var items: [(index: UInt64, item: MetadataStateMachine.LogItem)] = []
        for command in rest.prefix(size) {
          items.append((index, .command(command)))
          index += 1
        }
        // A no-op entry between commands now and then.
        if Bool.random(using: &rng) {
          items.append((index, .other(WriteBatch())))
          index += 1
        }
        results += try batched.applyAll(items, sync: false).compactMap { $0 == nil ? nil : describe($0) }
        rest = rest.dropFirst(size)
      }
      XCTAssertEqual(results, expected, "seed \(seed): results")
      let a = try single.store.scan(prefix: [])
      let b = try batchedStore.scan(prefix: []).filter { $0.key != Array("Mapplied-index".utf8) }
      let aWithout = a.filter { $0.key != Array("Mapplied-index".utf8) }
      XCTAssertEqual(b.map(\.key), aWithout.map(\.key), "seed \(seed): keys")
      XCTAssertEqual(b.map(\.value), aWithout.map(\.value), "seed \(seed): values")
      XCTAssertEqual(batched.appliedIndex, index - 1)
      XCTAssertTrue(expected.contains { $0.hasPrefix("error") }, "seed \(seed): the list should include failures")
    }
  }
}
