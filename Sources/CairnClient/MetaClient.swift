import CairnCore
import CairnTransport
import CairnWire
import Foundation
import NIOCore

/// Talks to the metadata service, a single server or a Raft group: tries the leader it last
/// heard of first, follows `.notLeader` redirects (the leader's address is the error's first
/// detail), and while no server answers (an election, a restart) retries with backoff until the
/// call's deadline. Every call is bounded by that deadline.
///
/// Outcomes are never guessed: a request refused by a server (`.notLeader`, or a connection
/// that could not be opened) was not applied and is retried anywhere. A write whose attempt
/// timed out or lost its connection after being sent may have been applied: a commit (it
/// carries an idempotency key, so the state machine applies it at most once) is retried with
/// the same key; any other write fails with `.unknownOutcome`. If the deadline passes after such
/// an attempt, the commit also ends `.unknownOutcome`; `.unavailable` means nothing was applied.
public final class MetaClient: Sendable {
  public let addresses: [ServerAddress]
  let pool: ConnectionPool
  let timeout: Duration
  /// How long one attempt on one server may take; nil: a third of the call's budget, at least 1 s.
  let attemptTimeout: Duration?
  let state = LeaderMemory()

  public init(
    addresses: [ServerAddress], pool: ConnectionPool, timeout: Duration = .seconds(30), attemptTimeout: Duration? = nil
  ) {
    precondition(!addresses.isEmpty, "a metadata client needs at least one address")
    precondition(attemptTimeout.map { $0 > .zero } ?? true, "an attempt timeout must be positive")
    self.addresses = addresses
    self.pool = pool
    self.timeout = timeout
    self.attemptTimeout = attemptTimeout
  }

  /// The server this client currently believes leads (nil before the first answer).
  public var knownLeader: ServerAddress? { state.leader }

  /// Sends `request` and returns the response (see the type's documentation for retries).
  /// Errors the service reports (not found, conflict…) are returned as they are.
  public func call(_ request: MetaRequest, timeout: Duration? = nil) async throws(CairnError) -> MetaResponse {
    let budget = timeout ?? self.timeout
    let deadline = ContinuousClock.now + budget
    let perAttempt = attemptTimeout ?? max(Duration.seconds(1), budget / 3)
    let kind = RequestKind(request)
    var failures: [String: String] = [:]
    var mayHaveApplied = false
    var anyAnswered = false
    // Servers that timed out in this call, and whether another one replied (`.notLeader`): a
    // live group (an election under way) then tells us where the leader is, so a stopped
    // server is not waited on again, one whole attempt per round, while the group recovers.
    var timedOut = Set<ServerAddress>()
    var anyReplied = false
    var silent = false
    let start = ContinuousClock.now
    let watch = startSilenceWatch(callBudget: budget)
    defer { watch?.cancel() }
    var round = 0
    while true {
      var redirectsThisRound = 0
      var tried = Set<ServerAddress>()
      var queue = order()
      while let address = queue.first {
        queue.removeFirst()
        guard tried.insert(address).inserted else { continue }
        if anyReplied && timedOut.contains(address) { continue }
        if watch?.firedError != nil {
          silent = true
          break
        }
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { break }
        let connection: WireConnection
        do throws(CairnError) {
          connection = try await pool.connection(to: address)
        } catch {
          failures[address.description] = error.message
          state.forget(address)
          continue
        }
        do throws(CairnError) {
          let reply = try await watchedCall(
            connection, payload: request.payload, timeout: min(remaining, perAttempt), watch: watch)
          let response = try MetaResponse(payload: reply.payload)
          state.answered()
          if kind != .anywhere { state.remember(address) }
          return response
        } catch {
          anyAnswered = true
          switch error.code {
          case .notLeader:
            anyReplied = true
            state.answered()
            failures[address.description] = error.message
            state.forget(address)
            // Once an attempt timed out in this call, a follower still inside its leader lease
            // may name the stopped leader under another address (its own link to it): only
            // configured addresses are followed then, and the rounds find the new leader.
            if let hint = error.details.first, let leader = try? ServerAddress(parsing: hint), !tried.contains(leader),
              !state.isSuspect(leader), redirectsThisRound < 8, timedOut.isEmpty || addresses.contains(leader)
            {
              redirectsThisRound += 1
              state.remember(leader)
              queue.insert(leader, at: 0)
            }
          case .unavailable, .timeout, .protocolError:
            // Sent, then no (usable) answer: the server may have applied it. (Our requests are
            // well formed, so a protocol error means the connection broke mid-reply.)
            failures[address.description] = error.message
            state.forget(address)
            if error.code == .timeout {
              state.suspect(address)
              timedOut.insert(address)
            }
            if Self.isSilent(error) { silent = true }
            await pool.reset(address)
            if kind == .write {
              throw CairnError(
                .unknownOutcome,
                "the metadata server \(address) did not answer the request, which may or may not have been applied: \(error.message)")
            }
            if kind == .commit { mayHaveApplied = true }
          default:
            throw error
          }
        }
        if silent { break }
      }
      // Every server silent (stopped or cut off): waiting out the deadline would not help.
      if silent || ContinuousClock.now >= deadline { break }
      // No server accepts connections at all: not an election but a service that is down.
      if !anyAnswered && ContinuousClock.now - start >= Self.downAfter { break }
      round += 1
      let pause = Duration.milliseconds(min(250, 50 << min(round, 3)))
      try? await Task.sleep(for: min(pause, deadline - ContinuousClock.now))
    }
    let summary = failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
    let waited = silent ? "after \(ContinuousClock.now - start), every server silent" : "within \(budget)"
    if mayHaveApplied {
      throw CairnError(
        .unknownOutcome,
        "the commit may or may not have been applied: no metadata server confirmed it \(waited) (\(summary))")
    }
    throw CairnError(.unavailable, "metadata service unreachable \(waited) (\(summary))")
  }

  /// How long to keep retrying while no metadata server accepts a connection at all.
  static let downAfter = Duration.seconds(3)

  /// The leader first (when known), then the configured servers in order; servers that timed
  /// out recently (stopped or cut off: each try costs a whole attempt timeout) last.
  private func order() -> [ServerAddress] {
    var list = addresses
    if let leader = state.leader { list = [leader] + addresses.filter { $0 != leader } }
    let suspects = list.filter { state.isSuspect($0) }
    return list.filter { !state.isSuspect($0) } + suspects
  }

  /// How a request may be retried.
  enum RequestKind {
    /// A read: retried anywhere, any number of times.
    case read
    /// A commit with an idempotency key: retried with the same key.
    case commit
    /// Another write: never retried once it may have reached a server.
    case write
    /// Status and chunk-server traffic, answered by any server.
    case anywhere

    init(_ request: MetaRequest) {
      switch request {
      case .commit(let request): self = request.idempotencyKey.isEmpty ? .write : .commit
      case .createVolume, .deleteVolume, .renameVolume, .rollback, .fork, .registerChunkServer: self = .write
      case .clusterStatus, .heartbeat: self = .anywhere
      case .listVolumes, .getVolume, .lookup, .list, .history, .diff, .findBlocks, .locateBlocks: self = .read
      // Idempotent (a repeated report or drain flag changes nothing): retried like reads.
      case .reportBadBlocks, .drainChunkServer: self = .read
      }
    }
  }
}

/// The leader a client last heard of, and servers that recently timed out, shared by its
/// concurrent calls.
final class LeaderMemory: @unchecked Sendable {
  private let lock = NSLock()
  private var current: ServerAddress?
  private var suspects: [ServerAddress: ContinuousClock.Instant] = [:]
  /// How long a server that timed out is tried last.
  static let suspicion = Duration.seconds(10)

  func suspect(_ address: ServerAddress) { lock.withLock { suspects[address] = .now + Self.suspicion } }

  func isSuspect(_ address: ServerAddress) -> Bool {
    lock.withLock {
      guard let until = suspects[address] else { return false }
      if until < .now {
        suspects[address] = nil
        return false
      }
      return true
    }
  }

  var leader: ServerAddress? { lock.withLock { current } }

  func remember(_ address: ServerAddress) {
    lock.withLock {
      current = address
      suspects[address] = nil
    }
  }

  /// Until when the service is believed silent (a call found no server answering at all).
  private var silentUntil: ContinuousClock.Instant?
  static let silence = Duration.seconds(30)

  var isSilent: Bool { lock.withLock { silentUntil.map { ContinuousClock.now < $0 } ?? false } }
  func markSilent() { lock.withLock { silentUntil = .now + Self.silence } }
  func answered() { lock.withLock { silentUntil = nil } }

  func forget(_ address: ServerAddress) {
    lock.withLock { if current == address { current = nil } }
  }
}
