import CairnCore
import CairnRaft
import CairnRaftStorage
import CairnTransport
import CairnWire
import Foundation
import Logging

/// The receiving side of snapshot transfers: one at a time, chunks written and verified by a
/// `SnapshotReceiver` in a staging directory, then handed to the Raft loop to install. A new
/// transfer while one is being installed is refused (`.unavailable`; the leader retries).
actor SnapshotIntake {
  let stagingDirectory: String
  let driver: RaftDriver
  let logger: Logger
  private var receiver: SnapshotReceiver?
  private var message: Message?
  private var installing = false

  init(stagingDirectory: String, driver: RaftDriver, logger: Logger) {
    self.stagingDirectory = stagingDirectory
    self.driver = driver
    self.logger = logger
  }

  func begin(_ message: Message) throws(CairnError) {
    guard !installing else { throw CairnError(.unavailable, "a snapshot is being installed; retry") }
    guard case .installSnapshot(let snapshot) = message.kind else {
      throw CairnError(.protocolError, "snapshotBegin must carry an installSnapshot message")
    }
    let manifest = try SnapshotManifest(decoding: snapshot.data)
    receiver = try SnapshotReceiver(manifest: manifest, stagingDirectory: stagingDirectory)
    self.message = message
    logger.info(
      "receiving a snapshot",
      metadata: [
        "from": "\(message.from.rawValue)", "index": "\(snapshot.metadata.index)", "bytes": "\(manifest.totalBytes)",
      ])
  }

  func receive(_ chunk: SnapshotChunk) throws(CairnError) {
    guard let receiver, !installing else { throw CairnError(.protocolError, "snapshot chunk without a transfer in progress") }
    try receiver.receive(chunk)
  }

  func end() async throws(CairnError) {
    guard let receiver, let message, !installing else {
      throw CairnError(.protocolError, "snapshotEnd without a transfer in progress")
    }
    self.receiver = nil
    self.message = nil
    try receiver.finish()
    installing = true
    defer { installing = false }
    let result = await driver.installSnapshot(message, staged: stagingDirectory)
    try? FileManager.default.removeItem(atPath: stagingDirectory)
    try result.get()
  }
}

/// The sending side: streams the checkpoint named by an `installSnapshot` message to one peer
/// (begin, chunks, end) on a background task; at most one transfer per peer at a time. A failed
/// transfer is simply dropped: the leader's core sends `installSnapshot` again later.
final class SnapshotSender: @unchecked Sendable {
  let directory: String
  let pool: ConnectionPool
  let logger: Logger
  private let lock = NSLock()
  private var busy: Set<UInt64> = []

  init(directory: String, pool: ConnectionPool, logger: Logger) {
    self.directory = directory
    self.pool = pool
    self.logger = logger
  }

  func start(_ message: Message, to address: ServerAddress) {
    let peer = message.to.rawValue
    let accepted = lock.withLock { busy.insert(peer).inserted }
    guard accepted else { return }
    Task {
      do throws(CairnError) {
        try await transfer(message, to: address)
      } catch {
        logger.warning("snapshot transfer failed", metadata: ["peer": "\(address)", "error": "\(error)"])
      }
      lock.withLock { _ = busy.remove(peer) }
    }
  }

  private func transfer(_ message: Message, to address: ServerAddress) async throws(CairnError) {
    guard case .installSnapshot(let snapshot) = message.kind else { return }
    let manifest = try SnapshotManifest(decoding: snapshot.data)
    let source = ChunkSource(
      reader: SnapshotChunkReader(directory: directory + "/\(snapshot.metadata.index)", manifest: manifest))
    let connection = try await pool.connection(to: address)
    func call(_ request: RaftRequest, timeout: Duration) async throws(CairnError) {
      let reply = try await connection.call(.raft, payload: WireCodec.encode(request), timeout: timeout)
      _ = try WireCodec.decode(RaftResponse.self, from: reply.payload)
    }
    let start = ContinuousClock.now
    try await call(.snapshotBegin(try Self.encode(message)), timeout: .seconds(10))
    while let chunk = try await Blocking.run({ () throws(CairnError) -> SnapshotChunk? in try source.next() }) {
      try await call(.snapshotChunk(try Self.encode(chunk)), timeout: .seconds(30))
    }
    try await call(.snapshotEnd, timeout: .seconds(120))
    logger.info(
      "snapshot sent",
      metadata: [
        "peer": "\(address)", "index": "\(snapshot.metadata.index)", "bytes": "\(manifest.totalBytes)",
        "seconds": "\(ContinuousClock.now - start)",
      ])
  }

  static func encode<T: Encodable>(_ value: T) throws(CairnError) -> [UInt8] {
    do { return try BinaryEncoder().encode(value) } catch {
      throw CairnError(.internalError, "cannot encode \(T.self): \(error)")
    }
  }

  /// A chunk reader used from one transfer task at a time.
  final class ChunkSource: @unchecked Sendable {
    private var reader: SnapshotChunkReader
    init(reader: SnapshotChunkReader) { self.reader = reader }
    func next() throws(CairnError) -> SnapshotChunk? { try reader.next() }
  }
}
