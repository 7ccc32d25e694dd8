import CairnCore
import CairnRaft
import CairnTransport
import CairnWire
import Foundation
import Logging

/// Sends Raft messages to one peer over `.raft` frames, in the background. The driver only
/// enqueues: a slow or dead peer never blocks the Raft loop. Messages queue while a send is in
/// flight and go out together in the next frame; on failure they are dropped (Raft resends) and
/// the queue is bounded, dropping the oldest first.
actor PeerSender {
  let address: ServerAddress
  let pool: ConnectionPool
  let logger: Logger
  let maxQueued: Int
  private var queue: [Message] = []
  private var running = false
  private var failures = 0

  init(address: ServerAddress, pool: ConnectionPool, logger: Logger, maxQueued: Int = 4096) {
    self.address = address
    self.pool = pool
    self.logger = logger
    self.maxQueued = maxQueued
  }

  func enqueue(_ messages: [Message]) {
    queue += messages
    if queue.count > maxQueued { queue.removeFirst(queue.count - maxQueued) }
    if !running {
      running = true
      Task { await self.drain() }
    }
  }

  private func drain() async {
    while !queue.isEmpty {
      let batch = queue
      queue = []
      do throws(CairnError) {
        for group in packMessages(batch, maxBytes: 4 << 20) {
          let bytes: [UInt8]
          do { bytes = try BinaryEncoder().encode(group) } catch {
            throw CairnError(.internalError, "cannot encode Raft messages: \(error)")
          }
          let connection = try await pool.connection(to: address)
          let reply = try await connection.call(
            .raft, payload: WireCodec.encode(RaftRequest.messages(bytes)), timeout: .seconds(3))
          _ = try WireCodec.decode(RaftResponse.self, from: reply.payload)
        }
        if failures > 0 { logger.info("Raft peer reachable again", metadata: ["peer": "\(address)"]) }
        failures = 0
      } catch {
        failures += 1
        if failures == 1 || failures % 50 == 0 {
          logger.warning("cannot reach Raft peer", metadata: ["peer": "\(address)", "error": "\(error)"])
        }
        await pool.reset(address)
        try? await Task.sleep(for: .milliseconds(min(50 * failures, 500)))
      }
    }
    running = false
  }
}

/// Routes outgoing Raft messages to one `PeerSender` per member, created on first use from the
/// member's current address (the address book can grow when members are added).
final class PeerRouter: @unchecked Sendable {
  let selfId: UInt64
  let logger: Logger
  let pool = ConnectionPool(connectionsPerAddress: 1, connectTimeout: .seconds(1))
  /// Set once the driver exists: every member's current address.
  var addresses: @Sendable () -> [UInt64: String] = { [:] }
  /// Streams checkpoints to peers that need a snapshot (nil: snapshots are not taken).
  var snapshots: SnapshotSender?
  private let lock = NSLock()
  private var senders: [UInt64: (address: String, sender: PeerSender)] = [:]

  init(self id: UInt64, logger: Logger) {
    selfId = id
    self.logger = logger
  }

  func send(_ messages: [Message]) {
    var byPeer: [UInt64: [Message]] = [:]
    let book = addresses()
    for message in messages where message.to.rawValue != selfId {
      if case .installSnapshot = message.kind {
        if let snapshots, let text = book[message.to.rawValue], let address = try? ServerAddress(parsing: text) {
          snapshots.start(message, to: address)
        }
        continue
      }
      byPeer[message.to.rawValue, default: []].append(message)
    }
    guard !byPeer.isEmpty else { return }
    for (peer, list) in byPeer {
      guard let sender = sender(for: peer, book: book) else { continue }
      Task { await sender.enqueue(list) }
    }
  }

  private func sender(for peer: UInt64, book: [UInt64: String]) -> PeerSender? {
    guard let text = book[peer], let address = try? ServerAddress(parsing: text) else { return nil }
    return lock.withLock {
      if let existing = senders[peer], existing.address == text { return existing.sender }
      let sender = PeerSender(address: address, pool: pool, logger: logger)
      senders[peer] = (text, sender)
      return sender
    }
  }
}
