import CairnCore
import CairnRaft
import CairnRaftStorage
import CairnTransport
import CairnWire
import Foundation
import Logging

/// Streams Raft messages to one peer: one-way `.raft` frames (`FrameFlags.oneWay`) on one
/// persistent connection, sent as soon as the driver hands them over, without waiting for any
/// answer (the peer's answers are Raft messages it streams back on its own connection). Raft
/// tolerates loss, reordering and duplication, so nothing here retries:
///
/// - while connecting (or reconnecting after a failure, with backoff) messages wait in a queue
///   bounded to `maxQueued`, dropping the oldest; the queue goes out once connected;
/// - while the connection's write buffer is full (a stalled peer) messages are dropped;
/// - a connection that closed (peer gone, or it refused a frame) is replaced on the next send.
///
/// `enqueue` never blocks on the network: it encodes and hands the frame to the connection's
/// event loop. Calls are serialized by a lock, so frames leave in the order of the calls.
final class PeerStream: @unchecked Sendable {
  let address: ServerAddress
  let logger: Logger
  let maxQueued: Int
  private let lock = NSLock()
  private var stream: FrameStream?
  private var connecting = false
  private var queue: [Message] = []
  private var failures = 0
  private var dropped = 0

  init(address: ServerAddress, logger: Logger, maxQueued: Int = 1024) {
    self.address = address
    self.logger = logger
    self.maxQueued = maxQueued
  }

  func enqueue(_ messages: [Message]) {
    let connect = lock.withLock { () -> Bool in
      if let stream, !stream.isClosed {
        if stream.isWritable {
          write(messages, to: stream)
        } else {
          dropped += messages.count
          if dropped == messages.count || dropped % 1000 < messages.count {
            logger.warning("Raft peer not keeping up; dropped messages", metadata: ["peer": "\(address)", "dropped": "\(dropped)"])
          }
        }
        return false
      }
      if let stream {
        self.stream = nil
        let reason = stream.closeReason.map { "\($0)" } ?? "connection closed"
        logger.warning("Raft peer connection lost", metadata: ["peer": "\(address)", "reason": "\(reason)"])
      }
      queue += messages
      if queue.count > maxQueued { queue.removeFirst(queue.count - maxQueued) }
      guard !connecting else { return false }
      connecting = true
      return true
    }
    if connect { Task { await self.reconnect() } }
  }

  /// Connects, retrying with backoff while messages wait, then sends the queue.
  private func reconnect() async {
    while true {
      let fresh: FrameStream
      do throws(CairnError) {
        fresh = try await FrameStream.connect(to: address, timeout: .seconds(1))
      } catch {
        let (attempt, waiting) = lock.withLock { () -> (Int, Bool) in
          failures += 1
          if queue.isEmpty { connecting = false }
          return (failures, !queue.isEmpty)
        }
        if attempt == 1 || attempt % 50 == 0 {
          logger.warning("cannot reach Raft peer", metadata: ["peer": "\(address)", "error": "\(error)"])
        }
        guard waiting else { return }
        try? await Task.sleep(for: .milliseconds(min(50 * attempt, 500)))
        continue
      }
      lock.withLock {
        if failures > 0 { logger.info("Raft peer reachable again", metadata: ["peer": "\(address)"]) }
        failures = 0
        stream = fresh
        connecting = false
        let waiting = queue
        queue = []
        if !waiting.isEmpty { write(waiting, to: fresh) }
      }
      return
    }
  }

  /// Encodes `messages` into frames under the frame limit and sends them. Called under `lock`.
  private func write(_ messages: [Message], to stream: FrameStream) {
    for group in packMessages(messages, maxBytes: 4 << 20) {
      let bytes = RaftWireCodec.encode(group)
      stream.send(kind: .raft, payload: RaftRequest.messages(bytes).payload)
    }
  }

  func close() {
    lock.withLock {
      stream?.close()
      stream = nil
      queue = []
    }
  }
}

/// Routes outgoing Raft messages to one `PeerStream` per member, created on first use from the
/// member's current address (the address book can grow when members are added).
final class PeerRouter: @unchecked Sendable {
  let selfId: UInt64
  let logger: Logger
  /// Request/response connections for snapshot transfers (messages use `PeerStream`s).
  let pool = ConnectionPool(connectionsPerAddress: 1, connectTimeout: .seconds(1))
  /// Set once the driver exists: every member's current address.
  var addresses: @Sendable () -> [UInt64: String] = { [:] }
  /// Streams checkpoints to peers that need a snapshot (nil: snapshots are not taken).
  var snapshots: SnapshotSender?
  private let lock = NSLock()
  private var senders: [UInt64: (address: String, sender: PeerStream)] = [:]

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
      sender(for: peer, book: book)?.enqueue(list)
    }
  }

  private func sender(for peer: UInt64, book: [UInt64: String]) -> PeerStream? {
    guard let text = book[peer], let address = try? ServerAddress(parsing: text) else { return nil }
    let (sender, replaced) = lock.withLock { () -> (PeerStream, PeerStream?) in
      if let existing = senders[peer], existing.address == text { return (existing.sender, nil) }
      let sender = PeerStream(address: address, logger: logger)
      let old = senders[peer]?.sender
      senders[peer] = (text, sender)
      return (sender, old)
    }
    replaced?.close()
    return sender
  }

  /// Closes every peer connection (on shutdown).
  func closeAll() {
    let all = lock.withLock { () -> [PeerStream] in
      let list = senders.values.map(\.sender)
      senders = [:]
      return list
    }
    for sender in all { sender.close() }
  }
}
