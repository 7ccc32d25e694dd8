import CairnCore
import NIOCore

/// The first message on every connection, in both directions.
public struct Hello: Codable, Sendable, Equatable {
  public var role: String
  public var build: String

  public init(role: String, build: String) {
    self.role = role
    self.build = build
  }
}

/// Requests to a metadata server.
public enum MetaRequest: Codable, Sendable, Equatable {
  case createVolume(VolumeName, VolumeSettings)
  case deleteVolume(VolumeName)
  case renameVolume(from: VolumeName, to: VolumeName)
  case listVolumes
  case getVolume(VolumeName)
  case lookup(VolumeName, VolumePath, version: UInt64?)
  case list(VolumeName, VolumePath, version: UInt64?, after: String?, limit: UInt32)
  case commit(CommitRequest)
  case history(VolumeName, limit: UInt32)
  case diff(VolumeName, from: UInt64, to: UInt64)
  case rollback(VolumeName, version: UInt64, author: String)
  case fork(VolumeName, version: UInt64?, newName: VolumeName, author: String)
  /// Which of these blocks are already durable on a write quorum.
  case findBlocks([BlockAddress], quorum: UInt8)
  /// The chunk servers known to hold each block.
  case locateBlocks([BlockAddress])
  case clusterStatus
  case registerChunkServer(ChunkServerRegistration)
  case heartbeat(ChunkServerHeartbeat)
  /// Copies of blocks on `serverId` that failed verification or could not be read (from the
  /// server's scrubber, its reads, or a client). The leader confirms with the server and repairs.
  case reportBadBlocks(serverId: UInt64, addresses: [BlockAddress], reason: String)
  /// Starts (or stops) moving every block off a chunk server.
  case drainChunkServer(UInt64, isDraining: Bool)
}

/// Responses from a metadata server.
public enum MetaResponse: Codable, Sendable, Equatable {
  case volume(VolumeInfo)
  case volumes([VolumeInfo])
  case entry(DirectoryEntry)
  case listing(version: UInt64, entries: [DirectoryEntry])
  case commit(CommitResult)
  case history([VersionInfo])
  case diff([DiffEntry])
  case blocksKnown([Bool])
  case locations([[UInt64]])
  case cluster(ClusterStatus)
  case registered(serverId: UInt64)
  case ok
}

/// What a chunk server says about itself when it registers.
public struct ChunkServerRegistration: Codable, Sendable, Equatable {
  public var serverId: UInt64
  public var address: String
  public var zone: String

  public init(serverId: UInt64, address: String, zone: String) {
    self.serverId = serverId
    self.address = address
    self.zone = zone
  }
}

/// A chunk server's periodic report.
public struct ChunkServerHeartbeat: Codable, Sendable, Equatable {
  public var serverId: UInt64
  public var capacityBytes: UInt64
  public var freeBytes: UInt64
  public var blockCount: UInt64
  public var corruptBlocks: UInt64

  public init(serverId: UInt64, capacityBytes: UInt64, freeBytes: UInt64, blockCount: UInt64, corruptBlocks: UInt64) {
    self.serverId = serverId
    self.capacityBytes = capacityBytes
    self.freeBytes = freeBytes
    self.blockCount = blockCount
    self.corruptBlocks = corruptBlocks
  }
}

/// A chunk server as the cluster sees it.
public struct ChunkServerStatus: Codable, Sendable, Equatable {
  public var serverId: UInt64
  public var address: String
  public var zone: String
  public var isUp: Bool
  public var lastHeartbeatAgeMillis: UInt64
  public var capacityBytes: UInt64
  public var freeBytes: UInt64
  public var blockCount: UInt64
  public var corruptBlocks: UInt64
  /// Being drained: takes no new blocks; repair moves its blocks elsewhere.
  public var isDraining: Bool?
  /// Blocks the metadata still locates on this server (leader only; nil when not counted).
  public var recordedBlocks: UInt64?

  public init(
    serverId: UInt64, address: String, zone: String, isUp: Bool, lastHeartbeatAgeMillis: UInt64, capacityBytes: UInt64,
    freeBytes: UInt64, blockCount: UInt64, corruptBlocks: UInt64, isDraining: Bool? = nil, recordedBlocks: UInt64? = nil
  ) {
    self.isDraining = isDraining
    self.recordedBlocks = recordedBlocks
    self.serverId = serverId
    self.address = address
    self.zone = zone
    self.isUp = isUp
    self.lastHeartbeatAgeMillis = lastHeartbeatAgeMillis
    self.capacityBytes = capacityBytes
    self.freeBytes = freeBytes
    self.blockCount = blockCount
    self.corruptBlocks = corruptBlocks
  }
}

/// The cluster as one metadata server sees it.
public struct ClusterStatus: Codable, Sendable, Equatable {
  public var metaServerId: UInt64
  public var isLeader: Bool
  public var appliedIndex: UInt64
  public var volumeCount: UInt64
  public var chunkServers: [ChunkServerStatus]
  /// Block health and repair/garbage-collection progress, from the leader's last scan.
  public var blocks: BlockHealthStatus?

  public init(
    metaServerId: UInt64, isLeader: Bool, appliedIndex: UInt64, volumeCount: UInt64, chunkServers: [ChunkServerStatus],
    blocks: BlockHealthStatus? = nil
  ) {
    self.blocks = blocks
    self.metaServerId = metaServerId
    self.isLeader = isLeader
    self.appliedIndex = appliedIndex
    self.volumeCount = volumeCount
    self.chunkServers = chunkServers
  }
}

/// Requests to a chunk server. `put` is followed by the block's bytes as body frames.
public enum ChunkRequest: Codable, Sendable, Equatable {
  case has([BlockAddress])
  case put(BlockAddress, length: UInt32)
  case get(BlockAddress)
  case delete([BlockAddress])
  case status
  /// Fetch a block from one of `sources` (chunk server addresses, tried in order), verify it and
  /// store it: a server-to-server copy for repair and drain.
  case copy(BlockAddress, length: UInt32, sources: [String])
  /// Re-verify these blocks now; corrupt ones are quarantined.
  case scrub([BlockAddress])
  /// Delete quarantined copies of these blocks (a good copy exists elsewhere).
  case purgeQuarantine([BlockAddress])
  /// Up to `limit` stored blocks after `after`, with their ages (for orphan collection).
  case inventory(after: BlockAddress?, limit: UInt32)
}

/// Responses from a chunk server. `block` is followed by the block's bytes as body frames.
public enum ChunkResponse: Codable, Sendable, Equatable {
  case has([Bool])
  case stored
  case block(length: UInt32)
  case deleted
  case status(ChunkServerHeartbeat)
  /// For each block of a `scrub`: present and verified.
  case scrubbed([Bool])
  case inventory([StoredBlock])
}

/// One block in a chunk server's inventory.
public struct StoredBlock: Codable, Sendable, Equatable {
  public var address: BlockAddress
  public var storedBytes: UInt64
  /// Seconds since the block file was last written.
  public var ageSeconds: UInt64

  public init(address: BlockAddress, storedBytes: UInt64, ageSeconds: UInt64) {
    self.address = address
    self.storedBytes = storedBytes
    self.ageSeconds = ageSeconds
  }
}

/// Block health as the metadata leader last counted it, and what repair and garbage collection
/// have done since it became leader.
public struct BlockHealthStatus: Codable, Sendable, Equatable {
  /// Block records scanned in the last full pass.
  public var blocks: UInt64 = 0
  /// Copies recorded over all blocks.
  public var replicas: UInt64 = 0
  /// Blocks with fewer healthy copies than wanted.
  public var underReplicated: UInt64 = 0
  /// Blocks with a copy on a server that is down (within or past the grace period).
  public var unreachable: UInt64 = 0
  /// Blocks with no copy on any up server.
  public var unavailable: UInt64 = 0
  /// Bad copies reported (scrub, failed reads) and confirmed, since this leader started.
  public var corruptReplicas: UInt64 = 0
  /// Bad copies still waiting for repair before their quarantined files are deleted.
  public var corruptPendingRepair: UInt64 = 0
  /// Copies repair still has to make (from the last pass).
  public var repairQueued: UInt64 = 0
  public var repairCopiesDone: UInt64 = 0
  public var repairCopiesFailed: UInt64 = 0
  public var repairBytesCopied: UInt64 = 0
  /// Completed repair passes and the time of the last one (milliseconds since the Unix epoch).
  public var repairPasses: UInt64 = 0
  public var lastPassUnixMillis: UInt64 = 0
  /// Blocks at reference count zero waiting for the grace period, and blocks deleted by GC.
  public var garbagePending: UInt64 = 0
  public var garbageCollected: UInt64 = 0

  public init() {}
}

/// Encoding helpers between messages and frame payloads.
public enum WireCodec {
  public static func encode<T: Encodable>(_ value: T) -> ByteBuffer {
    do {
      return ByteBuffer(bytes: try BinaryEncoder().encode(value))
    } catch {
      preconditionFailure("encoding \(T.self) cannot fail: \(error)")
    }
  }

  public static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws(CairnError) -> T {
    try BinaryDecoder().decodeOrThrow(type, from: Array(buffer.readableBytesView))
  }
}
