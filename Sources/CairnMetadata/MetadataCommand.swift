import CairnCore

/// Where a block is durable, as checked by the leader before it proposes a commit.
public struct BlockPlacement: Codable, Hashable, Sendable {
  public var address: BlockAddress
  public var length: UInt32
  public var servers: [UInt64]

  public init(address: BlockAddress, length: UInt32, servers: [UInt64]) {
    self.address = address
    self.length = length
    self.servers = servers
  }
}

/// Every change to metadata is one of these, applied by `MetadataStateMachine` deterministically:
/// the same command on the same state always gives the same result and the same writes. Times are
/// carried in the command (chosen by the proposer), never read while applying.
public enum MetadataCommand: Codable, Hashable, Sendable {
  case createVolume(VolumeName, VolumeSettings, timeNanos: Int64)
  case deleteVolume(VolumeName)
  case renameVolume(from: VolumeName, to: VolumeName, timeNanos: Int64)
  case commit(CommitRequest, placements: [BlockPlacement], timeNanos: Int64)
  case rollback(VolumeName, toVersion: UInt64, author: String, timeNanos: Int64)
  case fork(VolumeName, version: UInt64, newName: VolumeName, author: String, timeNanos: Int64)
  case registerChunkServer(ChunkServerRecord)
  /// Records that servers hold blocks (from chunk-server reports); no effect on unknown blocks.
  case recordBlockLocations([BlockPlacement])

  /// The one volume this command is scoped to, if any (fork and rename name two, explicitly).
  public var volume: VolumeName? {
    switch self {
    case .createVolume(let v, _, _), .deleteVolume(let v), .rollback(let v, _, _, _), .fork(let v, _, _, _, _):
      return v
    case .renameVolume(let from, _, _): return from
    case .commit(let request, _, _): return request.volume
    case .registerChunkServer, .recordBlockLocations: return nil
    }
  }
}

/// What applying a command produced.
public enum MetadataResult: Codable, Hashable, Sendable {
  case volume(VolumeInfo)
  case commit(CommitResult)
  case done
}
