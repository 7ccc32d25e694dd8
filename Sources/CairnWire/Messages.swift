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

  public init(
    serverId: UInt64, address: String, zone: String, isUp: Bool, lastHeartbeatAgeMillis: UInt64, capacityBytes: UInt64,
    freeBytes: UInt64, blockCount: UInt64, corruptBlocks: UInt64
  ) {
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

  public init(metaServerId: UInt64, isLeader: Bool, appliedIndex: UInt64, volumeCount: UInt64, chunkServers: [ChunkServerStatus]) {
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
}

/// Responses from a chunk server. `block` is followed by the block's bytes as body frames.
public enum ChunkResponse: Codable, Sendable, Equatable {
  case has([Bool])
  case stored
  case block(length: UInt32)
  case deleted
  case status(ChunkServerHeartbeat)
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
