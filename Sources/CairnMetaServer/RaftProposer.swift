import CairnCore
import CairnMetadata
import CairnRaft
import CairnRaftStorage
import CairnTransport
import CairnWire
import Logging

/// The proposer of a Raft member: commands go through the replicated log and return once
/// committed and applied here. Only the leader accepts them; others throw `.notLeader` naming
/// the leader's address.
public final class RaftProposer: CommandProposer {
  let driver: RaftDriver

  init(driver: RaftDriver) { self.driver = driver }

  public func propose(_ command: MetadataCommand) async throws(CairnError) -> MetadataResult {
    try requireLeader()
    return try await driver.propose(.metadata(command)).get()
  }

  /// Hands `command` to the Raft loop with `completion` as its waiter (a leader only; elsewhere
  /// `propose` produces the redirect).
  public func proposeInline(
    _ command: MetadataCommand, completion: @escaping @Sendable (Result<MetadataResult, CairnError>) -> Void
  ) -> Bool {
    guard driver.isLeader else { return false }
    driver.submit(.propose(.metadata(command), RaftDriver.ProposalWaiter(completion)))
    return true
  }

  public var isLeader: Bool { driver.isLeader }
  public var leaderAddress: String? { driver.leaderAddress }

  public func readBarrier() async throws(CairnError) {
    try requireLeader()
    try await driver.readBarrier().get()
  }
}

/// Answers `.raft` frames: peers' Raft messages, and operators' status, membership and
/// leadership requests.
final class RaftService: Sendable {
  let driver: RaftDriver
  let meta: MetaService
  let logger: Logger
  let intake: SnapshotIntake

  init(driver: RaftDriver, meta: MetaService, logger: Logger, snapshotStaging: String) {
    self.driver = driver
    self.meta = meta
    self.logger = logger
    intake = SnapshotIntake(stagingDirectory: snapshotStaging, driver: driver, logger: logger)
  }

  func respond(to request: RaftRequest) async throws(CairnError) -> RaftResponse {
    switch request {
    case .messages(let bytes):
      try receive(bytes)
      return .ok
    case .status:
      return .status(memberStatus())
    case .addMember(let id, let address):
      guard id != 0 else { throw .invalid("member id 0 is reserved") }
      _ = try ServerAddress(parsing: address)
      try driverRequireLeader()
      guard !driver.status.membership.contains(NodeID(id)) else {
        throw CairnError(.alreadyExists, "metadata server \(id) is already a member")
      }
      // The address first, so every member can reach the new one once it is a voter.
      _ = try await driver.propose(.memberAddress(id: id, address: address)).get()
      try await driver.changeMembership(.addVoter(NodeID(id))).get()
      logger.info("metadata server added", metadata: ["id": "\(id)", "address": "\(address)"])
      return .ok
    case .removeMember(let id):
      try driverRequireLeader()
      guard driver.status.membership.contains(NodeID(id)) else {
        throw CairnError(.notFound, "metadata server \(id) is not a member")
      }
      try await driver.changeMembership(.removeVoter(NodeID(id))).get()
      logger.info("metadata server removed", metadata: ["id": "\(id)"])
      return .ok
    case .transferLeader(let target):
      try driverRequireLeader()
      let status = driver.status
      let to: NodeID
      if let target {
        guard status.membership.contains(NodeID(target)), NodeID(target) != driver.id else {
          throw CairnError(.invalidArgument, "metadata server \(target) is not another member of the group")
        }
        to = NodeID(target)
      } else {
        guard let best = status.peers.max(by: { $0.matchIndex < $1.matchIndex }) else {
          throw CairnError(.invalidArgument, "the group has no other member to hand leadership to")
        }
        to = best.id
      }
      driver.transferLeadership(to: to)
      return try await waitForLeader(other: driver.id, timeout: .seconds(10))
    case .localRead(let message):
      switch message {
      case .listVolumes, .getVolume, .lookup, .list, .history, .diff, .findBlocks, .locateBlocks, .clusterStatus:
        return .meta(try await meta.answer(message))
      default:
        throw CairnError(.invalidArgument, "localRead answers metadata reads only")
      }
    case .snapshotBegin(let bytes):
      let message: Message
      do { message = try BinaryDecoder().decodeOrThrow(Message.self, from: bytes) } catch {
        throw CairnError(.protocolError, "malformed snapshot message: \(error)")
      }
      guard message.to == driver.id, message.from != .none, message.from != driver.id else {
        throw CairnError(
          .protocolError, "snapshot for member \(message.to.rawValue) sent to member \(driver.id.rawValue)")
      }
      try await intake.begin(message)
      return .ok
    case .snapshotChunk(let bytes):
      let chunk: SnapshotChunk
      do { chunk = try BinaryDecoder().decodeOrThrow(SnapshotChunk.self, from: bytes) } catch {
        throw CairnError(.protocolError, "malformed snapshot chunk: \(error)")
      }
      try await intake.receive(chunk)
      return .ok
    case .snapshotEnd:
      try await intake.end()
      return .ok
    }
  }

  /// Checks a batch of peers' Raft messages (every one for this member, from another member,
  /// none a bare snapshot) and hands them to the driver; a bad batch is refused whole.
  func receive(_ bytes: [UInt8]) throws(CairnError) {
    let messages: [Message]
    do { messages = try RaftWireCodec.decodeMessages(bytes) } catch {
      throw CairnError(.protocolError, "malformed Raft messages: \(error)")
    }
    for message in messages {
      guard message.to == driver.id else {
        throw CairnError(
          .protocolError, "Raft message for member \(message.to.rawValue) sent to member \(driver.id.rawValue)")
      }
      guard message.from != .none, message.from != driver.id else {
        throw CairnError(.protocolError, "Raft message from an invalid sender \(message.from.rawValue)")
      }
      if case .installSnapshot = message.kind {
        throw CairnError(
          .protocolError, "a snapshot travels as snapshotBegin, chunks and snapshotEnd, not as a message")
      }
    }
    driver.receive(messages)
  }

  private func driverRequireLeader() throws(CairnError) {
    guard !driver.isLeader else { return }
    throw driver.notLeaderError("a membership or leadership change")
  }

  private func waitForLeader(other old: NodeID, timeout: Duration) async throws(CairnError) -> RaftResponse {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      let status = driver.status
      if status.leaderID != .none && status.leaderID != old { return .status(memberStatus()) }
      try? await Task.sleep(for: .milliseconds(50))
    }
    throw CairnError(.timeout, "leadership did not move within \(timeout); the old leader kept or retook it")
  }

  func memberStatus() -> MetaMemberStatus {
    let status = driver.status
    let book = driver.addresses
    var member = MetaMemberStatus(
      id: driver.id.rawValue, address: book[driver.id.rawValue] ?? "", role: status.role.rawValue, term: status.term,
      leaderId: status.leaderID.rawValue, leaderAddress: book[status.leaderID.rawValue] ?? "",
      commitIndex: status.commitIndex, appliedIndex: status.appliedIndex, lastIndex: status.lastIndex,
      snapshotIndex: status.snapshotIndex,
      members: status.membership.voters.map {
        MetaMemberStatus.Member(id: $0.rawValue, address: book[$0.rawValue] ?? "")
      },
      progress: status.peers.map {
        MetaMemberStatus.Progress(
          id: $0.id.rawValue, matchIndex: $0.matchIndex, lag: $0.lag, state: $0.replicationState)
      })
    (member.syncedWrites, member.entriesWritten) = driver.writeStatistics
    return member
  }
}

/// The metadata server's wire handler: `.meta` frames to `MetaService`, `.raft` frames to the
/// Raft member (refused by a single server).
final class MetaServerHandler: RequestHandler {
  let meta: MetaService
  let raft: RaftService?

  init(meta: MetaService, raft: RaftService?) {
    self.meta = meta
    self.raft = raft
  }

  func handleInline(
    _ request: IncomingRequest, reply: @escaping @Sendable (Result<OutgoingReply, CairnError>) -> Void
  ) -> Bool {
    request.kind == .meta && meta.handleInline(request, reply: reply)
  }

  func handle(_ request: IncomingRequest) async throws(CairnError) -> OutgoingReply {
    guard request.kind == .raft else { return try await meta.handle(request) }
    guard let raft else {
      throw CairnError(
        .protocolError, "this metadata server runs without Raft (no --peers); it answers no Raft requests")
    }
    let message = try RaftRequest(payload: request.payload)
    return OutgoingReply(payload: WireCodec.encode(try await raft.respond(to: message)))
  }

  /// A one-way `.raft` frame: a peer's stream of Raft messages, handed to the driver on the
  /// event loop (no task, no reply). Anything else is refused (the connection closes).
  func receiveOneWay(_ request: IncomingRequest) throws(CairnError) {
    guard request.kind == .raft, let raft else {
      throw CairnError(
        .protocolError, "this metadata server takes one-way frames only as a Raft member's message stream")
    }
    guard case .messages(let bytes) = try RaftRequest(payload: request.payload) else {
      throw CairnError(.protocolError, "a one-way Raft frame carries only messages")
    }
    try raft.receive(bytes)
  }
}
