import CairnBlockStore
import CairnCore
import CairnTransport
import CairnWire
import Foundation
import Logging
import Synchronization

/// Requests the metadata leader sends for repair, scrubbing and garbage collection.
extension ChunkService {
  func maintain(_ message: ChunkRequest) async throws(CairnError) -> OutgoingReply {
    let store = self.store
    switch message {
    case .copy(let address, let length, let sources):
      guard Int(length) <= Limits.maxBlockBytes, sources.count <= 16 else {
        throw .invalid("copy of \(address.shortHex): bad length or too many sources")
      }
      try await copy(address, length: length, from: sources)
      return OutgoingReply(payload: WireCodec.encode(ChunkResponse.stored))
    case .scrub(let addresses):
      guard addresses.count <= Limits.maxListItems else { throw .invalid("too many addresses in one request") }
      let results = try await Blocking.run { () throws(CairnError) -> [Bool] in
        var out: [Bool] = []
        for a in addresses { out.append(try store.scrub(a) == .healthy) }
        return out
      }
      return OutgoingReply(payload: WireCodec.encode(ChunkResponse.scrubbed(results)))
    case .purgeQuarantine(let addresses):
      guard addresses.count <= Limits.maxListItems else { throw .invalid("too many addresses in one request") }
      try await Blocking.run { () throws(CairnError) in for a in addresses { try store.purgeQuarantine(a) } }
      return OutgoingReply(payload: WireCodec.encode(ChunkResponse.deleted))
    case .inventory(let after, let limit):
      let items = try await Blocking.run { () throws(CairnError) -> [BlockStore.InventoryItem] in
        try store.inventory(after: after, limit: Int(min(limit, UInt32(Limits.maxListItems))))
      }
      let now = Int(Date().timeIntervalSince1970)
      return OutgoingReply(
        payload: WireCodec.encode(
          ChunkResponse.inventory(
            items.map {
              StoredBlock(
                address: $0.address, storedBytes: UInt64($0.storedBytes),
                ageSeconds: UInt64(max(0, now - $0.modifiedUnixSeconds)))
            })))
    default:
      throw CairnError(.protocolError, "unexpected chunk request")
    }
  }

  /// Fetches `address` from the first source that returns verified bytes and stores it.
  func copy(_ address: BlockAddress, length: UInt32, from sources: [String]) async throws(CairnError) {
    let store = self.store
    if store.has([address]) == [true] { return }
    var problems: [String] = []
    for source in sources {
      do throws(CairnError) {
        let connection = try await peers.connection(to: try ServerAddress(parsing: source))
        let reply = try await connection.call(
          .chunk, payload: WireCodec.encode(ChunkRequest.get(address)), timeout: .seconds(30),
          maxReplyBodyBytes: Int(length))
        let bytes = reply.body ?? []
        guard bytes.count == Int(length), BlockAddress.of(bytes) == address else {
          problems.append("\(source): bytes fail verification")
          continue
        }
        try await Blocking.run { () throws(CairnError) in _ = try store.put(bytes, address: address) }
        return
      } catch {
        if error.code == .noSpace { throw error }
        problems.append("\(source): \(error.message)")
      }
    }
    throw CairnError(.unavailable, "could not copy block \(address.shortHex) from any source", details: problems)
  }
}

/// Addresses of bad copies waiting to be reported (bounded: past the bound the oldest are dropped;
/// the scrubber finds them again on its next pass).
final class BadBlockReports: Sendable {
  static let maxPending = 10_000
  private let pending = Mutex<[BlockAddress]>([])

  func add(_ address: BlockAddress) {
    pending.withLock {
      guard !$0.contains(address) else { return }
      $0.append(address)
      if $0.count > Self.maxPending { $0.removeFirst() }
    }
  }

  /// Takes up to `limit` pending reports.
  func take(limit: Int = 1000) -> [BlockAddress] {
    pending.withLock {
      let batch = Array($0.prefix(limit))
      $0.removeFirst(batch.count)
      return batch
    }
  }

  /// Puts reports back after a failed send.
  func restore(_ addresses: [BlockAddress]) { for a in addresses { add(a) } }
}
