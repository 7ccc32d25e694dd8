import CairnCore
import CairnMetadata
import XCTest

@testable import CairnMetaServer

final class ReplicatedCommandTests: XCTestCase {
  static func commands() throws -> [ReplicatedCommand] {
    let request = CommitRequest(
      volume: try VolumeName("v"), baseVersion: 0,
      changes: [.put(try VolumePath("/x"), .file(Manifest(), Attributes(mode: 0o100644, mtimeNanos: 1)))],
      mode: .merge, idempotencyKey: "id", author: "bench", message: "")
    return [
      .metadata(.commit(request, placements: [], timeNanos: 7)),
      .metadata(.createVolume(try VolumeName("v"), VolumeSettings(), timeNanos: 1)),
      .memberAddress(id: 3, address: "127.0.0.1:7003"),
    ]
  }

  func testRoundTripAndOlderEntries() throws {
    for command in try Self.commands() {
      let bytes = try command.encoded()
      XCTAssertEqual(bytes.first, WireFormat.replicatedCommand)
      XCTAssertEqual(try ReplicatedCommand(decoding: bytes), command)
      // Log entries written by an earlier build (generic encoding) are still applied.
      XCTAssertEqual(try ReplicatedCommand(decoding: BinaryEncoder().encode(command)), command)
    }
  }

  func testHostileEntriesAreRefused() throws {
    for command in try Self.commands() {
      let bytes = try command.encoded()
      for n in 0..<bytes.count {
        XCTAssertThrowsError(try ReplicatedCommand(decoding: Array(bytes.prefix(n))))
      }
      for i in 1..<bytes.count {
        for value: UInt8 in [0, 1, 0x7F, 0x80, 0xFF] {
          var corrupted = bytes
          corrupted[i] = value
          _ = try? ReplicatedCommand(decoding: corrupted)
        }
      }
      XCTAssertThrowsError(try ReplicatedCommand(decoding: bytes + [1]))
    }
    XCTAssertThrowsError(try ReplicatedCommand(decoding: [WireFormat.replicatedCommand, 3])) { error in
      XCTAssertTrue("\(error)".contains("unknown ReplicatedCommand tag 3"), "\(error)")
    }
  }
}
