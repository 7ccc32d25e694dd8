import CairnBlockStore
import CairnCore
import CairnTransport
import CairnWire
import Logging
import NIOCore

/// The chunk server's request handler: `has`, streamed `put`, verified `get`, `delete`, `status`.
public final class ChunkService: RequestHandler {
  let store: BlockStore
  let serverId: UInt64
  let logger: Logger
  /// Bad copies found here (scrub, failed reads), sent to the metadata service with the next heartbeat.
  let badBlocks = BadBlockReports()
  /// Connections to other chunk servers, for repair copies.
  let peers = ConnectionPool(connectionsPerAddress: 1, connectTimeout: .seconds(2))

  public init(store: BlockStore, serverId: UInt64, logger: Logger) {
    self.store = store
    self.serverId = serverId
    self.logger = logger
  }

  public func handle(_ request: IncomingRequest) async throws(CairnError) -> OutgoingReply {
    guard request.kind == .chunk else {
      throw CairnError(.protocolError, "a chunk server does not answer \(request.kind) requests")
    }
    let message = try WireCodec.decode(ChunkRequest.self, from: request.payload)
    let store = self.store
    switch message {
    case .has(let addresses):
      guard addresses.count <= Limits.maxListItems else { throw .invalid("too many addresses in one request") }
      return reply(.has(try await Blocking.run { store.has(addresses) }))
    case .put(let address, let length):
      guard let body = request.body else { throw CairnError(.protocolError, "put of \(address.shortHex) has no body") }
      guard Int(length) <= Limits.maxBlockBytes else {
        throw CairnError(.tooLarge, "block of \(length) bytes exceeds the limit of \(Limits.maxBlockBytes)")
      }
      let writer = try await Blocking.run { () throws(CairnError) -> BlockWriter in
        try store.beginPut(address: address, length: Int(length))
      }
      let box = WriterBox(writer)
      do throws(CairnError) {
        while let chunk = try await body.next() {
          let bytes = Array(chunk.readableBytesView)
          try await Blocking.run { () throws(CairnError) in try box.writer.append(bytes) }
        }
        _ = try await Blocking.run { () throws(CairnError) -> BlockWriter.Outcome in try box.writer.finish() }
      } catch {
        box.writer.abort()
        if error.code != .unavailable {
          logger.warning("put failed", metadata: ["block": "\(address.shortHex)", "error": "\(error)"])
        }
        throw error
      }
      return reply(.stored)
    case .get(let address):
      do throws(CairnError) {
        let bytes = try await Blocking.run { () throws(CairnError) -> [UInt8] in try store.read(address) }
        return OutgoingReply(payload: WireCodec.encode(ChunkResponse.block(length: UInt32(bytes.count))), body: bytes)
      } catch {
        if error.code == .corruptBlock || error.code == .ioError {
          logger.error("bad block copy", metadata: ["block": "\(address.hex)", "error": "\(error)"])
          badBlocks.add(address)
        }
        throw error
      }
    case .delete(let addresses):
      guard addresses.count <= Limits.maxListItems else { throw .invalid("too many addresses in one request") }
      try await Blocking.run { () throws(CairnError) in for a in addresses { _ = try store.delete(a) } }
      return reply(.deleted)
    case .status:
      return reply(.status(try await heartbeat()))
    default:
      return try await maintain(message)
    }
  }

  /// This server's current report.
  public func heartbeat() async throws(CairnError) -> ChunkServerHeartbeat {
    let store = self.store
    let stats = try await Blocking.run { () throws(CairnError) -> BlockStore.Stats in try store.stats() }
    return ChunkServerHeartbeat(
      serverId: serverId, capacityBytes: UInt64(stats.capacityBytes), freeBytes: UInt64(stats.freeBytes),
      blockCount: UInt64(stats.blockCount), corruptBlocks: UInt64(stats.corruptBlockCount))
  }

  private func reply(_ response: ChunkResponse) -> OutgoingReply { OutgoingReply(payload: WireCodec.encode(response)) }
}

/// Lets a non-Sendable writer cross into the thread pool; only one task uses it at a time.
final class WriterBox: @unchecked Sendable {
  let writer: BlockWriter
  init(_ writer: BlockWriter) { self.writer = writer }
}
