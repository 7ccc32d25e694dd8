import CairnCore

/// Where a block is durable, as checked by the leader before it proposes a commit.
public struct BlockPlacement: Codable, Hashable, Sendable {
  public var address: BlockAddress
  public var length: UInt32
  public var servers: [UInt64]
  /// Copies wanted (the volume's replication factor), kept in the block's record for repair.
  public var replicas: UInt8?
  /// The garbage-collection epoch read before the servers were asked: a commit whose placement
  /// is older than the current epoch is refused (retryably), because a block it saw may have been
  /// deleted since.
  public var garbageEpoch: UInt64?

  public init(address: BlockAddress, length: UInt32, servers: [UInt64], replicas: UInt8? = nil, garbageEpoch: UInt64? = nil) {
    self.address = address
    self.length = length
    self.servers = servers
    self.replicas = replicas
    self.garbageEpoch = garbageEpoch
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
  /// Drops servers from blocks' locations (a replica found corrupt or missing, or moved off a
  /// draining server once enough copies exist elsewhere).
  case removeBlockLocations([BlockPlacement])
  /// Garbage collection, decided in the log. Each `unreferenced` block still at reference count
  /// zero is stamped with `timeNanos` if it has no zero-time yet, or fenced for deletion when its
  /// zero-time is at least `graceNanos` old. Each orphan (a block chunk servers hold that has no
  /// record) gets a fenced record. Only fenced blocks are ever deleted from chunk servers.
  case collectGarbage(unreferenced: [BlockAddress], orphans: [BlockPlacement], graceNanos: Int64, timeNanos: Int64)
  /// Forgets fenced blocks whose copies were deleted, and bumps the garbage-collection epoch.
  case forgetBlocks([BlockAddress])
  /// Marks a chunk server draining (or not).
  case setChunkServerDraining(UInt64, isDraining: Bool)

  /// The one volume this command is scoped to, if any (fork and rename name two, explicitly).
  public var volume: VolumeName? {
    switch self {
    case .createVolume(let v, _, _), .deleteVolume(let v), .rollback(let v, _, _, _), .fork(let v, _, _, _, _):
      return v
    case .renameVolume(let from, _, _): return from
    case .commit(let request, _, _): return request.volume
    case .registerChunkServer, .recordBlockLocations, .removeBlockLocations, .collectGarbage, .forgetBlocks,
      .setChunkServerDraining:
      return nil
    }
  }
}

/// What applying a command produced.
public enum MetadataResult: Codable, Hashable, Sendable {
  case volume(VolumeInfo)
  case commit(CommitResult)
  case done
}
