import CairnCore
import CairnKV
import CairnMetadata
import XCTest

/// Clever code against naive code: random commits are applied to the state machine and to a
/// deliberately simple model (a full copy of the tree per version); every retained version must
/// read the same from both.
final class VersionedStoreModelTests: XCTestCase {
  enum Node: Equatable {
    case dir
    case file(String)
  }

  typealias Tree = [String: Node]

  func testRandomCommitsMatchNaiveModel() throws {
    let seeds: [UInt64] =
      ProcessInfo.processInfo.environment["CAIRN_TEST_SEED"].flatMap(UInt64.init).map { [$0] } ?? Array(1...12)
    for seed in seeds {
      do {
        try Self.run(seed: seed, store: MemoryStore())
      } catch {
        XCTFail("seed \(seed) failed (replay with CAIRN_TEST_SEED=\(seed)): \(error)")
      }
    }
  }

  static func run(seed: UInt64, store: any KVStore) throws {
    var rng = SeededRandom(seed: seed)
    let f = try MetadataFixture(store: store)
    let retained: UInt32 = 6
    try f.create("m", retained: retained)
    var versions: [UInt64: Tree] = [1: ["/": .dir]]
    var head: Tree = ["/": .dir]
    let names = ["a", "b", "c"]
    func randomPath() -> String {
      let depth = Int.random(in: 1...3, using: &rng)
      return "/" + (0..<depth).map { _ in names.randomElement(using: &rng)! }.joined(separator: "/")
    }
    for step in 0..<60 {
      var changes: [Change] = []
      var model = head
      var expectFailure = false
      for _ in 0..<Int.random(in: 1...4, using: &rng) {
        let path = randomPath()
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<6:
          let content = "s\(seed)-\(step)-\(Int.random(in: 0..<5, using: &rng))"
          changes.append(.put(p(path), f.file(content)))
          if !Self.put(&model, path, content) { expectFailure = true }
        case 6..<8:
          changes.append(.delete(p(path), recursive: true))
          Self.delete(&model, path)
        default:
          let files = model.filter { if case .file = $0.value { return true } else { return false } }.keys.sorted()
          guard let from = files.randomElement(using: &rng) else { continue }
          changes.append(.rename(from: p(from), to: p(path), replace: true))
          if !Self.renameFile(&model, from, path) { expectFailure = true }
        }
      }
      do {
        let result = try f.commit("m", changes)
        XCTAssertFalse(expectFailure, "seed \(seed) step \(step): commit succeeded, model expected failure: \(changes)")
        head = model
        versions[result.version] = model
      } catch let error as CairnError {
        XCTAssertTrue(expectFailure, "seed \(seed) step \(step): unexpected \(error) for \(changes)")
      }
      // Check a few retained versions against the model.
      let info = try f.reader.volume(try VolumeName("m"))
      for v in info.oldestVersion...info.headVersion {
        guard let tree = versions[v] else { continue }
        try Self.check(f, tree, version: v, seed: seed)
      }
    }
  }

  static func check(_ f: MetadataFixture, _ tree: Tree, version: UInt64, seed: UInt64) throws {
    let name = try VolumeName("m")
    var fileCount = 0
    for (path, node) in tree {
      if case .dir = node {
        let expected = tree.keys.filter { $0 != "/" && p($0).parent == p(path) }.map { p($0).name }.sorted()
        XCTAssertEqual(try f.names("m", path, version: version), expected, "seed \(seed) v\(version) list \(path)")
      } else if case .file(let content) = node {
        fileCount += 1
        let entry = try f.reader.lookup(name, path: p(path), version: version).entry
        XCTAssertEqual(entry.manifest.blocks.first?.address, BlockAddress.of(Array(content.utf8)), "seed \(seed) v\(version) \(path)")
      }
    }
    XCTAssertEqual(try f.reader.history(name, limit: 1000).first { $0.version == version }?.fileCount, UInt64(fileCount))
  }

  static func ancestors(_ path: String) -> [String] {
    var out: [String] = []
    var current = p(path).parent
    while !current.isRoot {
      out.append(current.rawValue)
      current = current.parent
    }
    return out.reversed()
  }

  static func put(_ tree: inout Tree, _ path: String, _ content: String) -> Bool {
    if tree[path] == .dir { return false }
    for a in ancestors(path) {
      if case .file = tree[a] { return false }
      tree[a] = .dir
    }
    tree[path] = .file(content)
    return true
  }

  static func delete(_ tree: inout Tree, _ path: String) {
    for key in tree.keys where key == path || key.hasPrefix(path + "/") { tree[key] = nil }
  }

  static func renameFile(_ tree: inout Tree, _ from: String, _ to: String) -> Bool {
    guard case .file(let content) = tree[from] else { return false }
    if from == to { return true }
    if tree[to] == .dir { return false }
    for a in ancestors(to) { if case .file = tree[a] { return false } }
    for a in ancestors(to) { tree[a] = .dir }
    tree[to] = .file(content)
    tree[from] = nil
    return true
  }
}
