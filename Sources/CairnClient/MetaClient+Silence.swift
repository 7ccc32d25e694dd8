import CairnCore
import CairnTransport
import CairnWire
import Foundation
import NIOCore
import NIOPosix

/// Telling a metadata service that is stopped (SIGSTOP) or cut off from one that is slow.
///
/// A stopped server's kernel still accepts connections and requests; nothing ever answers, so
/// every attempt would wait out its whole timeout (a 10 s commit timeout meant a mount in
/// degraded mode waited 10 s before queueing a commit). While an attempt is unanswered for
/// `silenceProbeAfter`, every configured server is asked for its status in parallel (a cheap
/// local read that any member answers, also during an election); when none answers within
/// `silenceProbeBudget`, the service is silent and the call ends (`.unavailable`, or
/// `.unknownOutcome` for a commit that was sent — its idempotency key makes a retry safe). A
/// slow but live service answers the probe, and the attempt keeps its whole timeout.
extension MetaClient {
  /// An attempt unanswered this long starts a probe of every server.
  static let silenceProbeAfter = Duration.seconds(1)
  /// How long the probe waits for any answer; with `silenceProbeAfter`, ≈ `downAfter`.
  static let silenceProbeBudget = Duration.seconds(2)
  /// After a call found the service silent, later calls probe at once, with this budget, until
  /// the service answers again.
  static let silenceRecheckBudget = Duration.seconds(1)

  /// Starts watching one call (nil when its budget is too short for a probe to matter): after
  /// `silenceProbeAfter` (at once when the service was silent recently), every server is asked
  /// for its status, again every 0.5 s while one answers; when none answers within the budget
  /// the watch fires, which ends the call's attempt in flight and the call.
  func startSilenceWatch(callBudget: Duration) -> SilenceWatch? {
    let recentlySilent = state.isSilent
    let probeAfter = recentlySilent ? Duration.zero : Self.silenceProbeAfter
    let budget = recentlySilent ? Self.silenceRecheckBudget : Self.silenceProbeBudget
    guard callBudget > probeAfter + budget else { return nil }
    let watch = SilenceWatch()
    // Most calls end long before the probe is due: a timer on an event loop (cheap to schedule
    // and cancel) starts the probing task only for a call still waiting then.
    let start = { [self] in
      watch.task = Task { await self.probe(watch, probeAfter: probeAfter, budget: budget) }
    }
    if probeAfter == .zero {
      start()
    } else {
      let nanos =
        Int64(probeAfter.components.seconds) * 1_000_000_000 + Int64(probeAfter.components.attoseconds / 1_000_000_000)
      watch.timer = MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: .nanoseconds(nanos)) {
        guard !watch.isCancelled else { return }
        start()
      }
    }
    return watch
  }

  /// Asks every server for its status until one does not answer within `budget` (then fires
  /// `watch`) or the watch is cancelled.
  private func probe(_ watch: SilenceWatch, probeAfter: Duration, budget: Duration) async {
    while !Task.isCancelled && !watch.isCancelled {
      if await anyServerAnswers(within: budget) {
        state.answered()
        try? await Task.sleep(for: .milliseconds(500))
        continue
      }
      guard !Task.isCancelled else { return }
      state.markSilent()
      watch.fire(
        CairnError(
          .timeout, "no metadata server answered for \(probeAfter + budget) (every one stopped or cut off)",
          details: [Self.silentMarker]))
      return
    }
  }

  /// Sends one attempt; ends with the watch's error as soon as it fires.
  func watchedCall(_ connection: WireConnection, payload: ByteBuffer, timeout: Duration, watch: SilenceWatch?)
    async throws(CairnError) -> WireReply
  {
    guard let watch else { return try await connection.call(.meta, payload: payload, timeout: timeout) }
    let race = FirstOf<Result<WireReply, CairnError>>()
    watch.onFire { race.finish(.failure($0)) }
    // An abandoned attempt ends at its own timeout; its outcome is then ignored.
    connection.start(.meta, payload: payload, timeout: timeout) { race.finish($0) }
    return try await race.value().get()
  }

  /// The detail that marks a silent-service timeout.
  static let silentMarker = "metadata-service-silent"

  static func isSilent(_ error: CairnError) -> Bool { error.code == .timeout && error.details.first == silentMarker }

  /// True when at least one configured metadata server answers a status request (with any
  /// reply, even an error) within `budget`; the servers are asked in parallel.
  public func anyServerAnswers(within budget: Duration) async -> Bool {
    let race = FirstOf<Bool>()
    let payload = MetaRequest.clusterStatus.payload
    let pending = Counter(addresses.count)
    var tasks: [Task<Void, Never>] = []
    for address in addresses {
      tasks.append(
        Task { [pool] in
          var answered = false
          do {
            let connection = try await pool.connection(to: address)
            _ = try await connection.call(.meta, payload: payload, timeout: budget)
            answered = true
          } catch let error as CairnError {
            answered = ![.unavailable, .timeout, .protocolError].contains(error.code)
          } catch {
            answered = false
          }
          if answered {
            race.finish(true)
          } else if pending.decrement() == 0 {
            race.finish(false)
          }
        })
    }
    let timer = Task {
      try? await Task.sleep(for: budget + .milliseconds(200))
      race.finish(false)
    }
    let answered = await race.value()
    timer.cancel()
    for task in tasks { task.cancel() }
    return answered
  }
}

/// The silence watch of one call: fires at most once, telling every registered attempt.
final class SilenceWatch: @unchecked Sendable {
  private let lock = NSLock()
  private var error: CairnError?
  private var handlers: [@Sendable (CairnError) -> Void] = []
  private var cancelled = false
  /// The probing task, once started (see `MetaClient.startSilenceWatch`).
  var task: Task<Void, Never>? {
    get { lock.withLock { probing } }
    set {
      let cancelNow = lock.withLock { () -> Bool in
        probing = newValue
        return cancelled
      }
      if cancelNow { newValue?.cancel() }
    }
  }
  private var probing: Task<Void, Never>?
  /// The timer that starts the probing task.
  var timer: Scheduled<Void>?

  var firedError: CairnError? { lock.withLock { error } }
  var isCancelled: Bool { lock.withLock { cancelled } }

  func fire(_ e: CairnError) {
    let list = lock.withLock { () -> [@Sendable (CairnError) -> Void] in
      guard error == nil else { return [] }
      error = e
      let l = handlers
      handlers = []
      return l
    }
    for h in list { h(e) }
  }

  /// Calls `handler` when the watch fires (at once if it has).
  func onFire(_ handler: @escaping @Sendable (CairnError) -> Void) {
    let fired = lock.withLock { () -> CairnError? in
      if let error { return error }
      handlers.append(handler)
      return nil
    }
    if let fired { handler(fired) }
  }

  func cancel() {
    let (task, timer) = lock.withLock { () -> (Task<Void, Never>?, Scheduled<Void>?) in
      cancelled = true
      handlers = []
      return (probing, self.timer)
    }
    timer?.cancel()
    task?.cancel()
  }
}

/// The first of several results; later ones are ignored.
final class FirstOf<T: Sendable>: @unchecked Sendable {
  private let lock = NSLock()
  private var result: T?
  private var waiter: CheckedContinuation<T, Never>?

  var isFinished: Bool { lock.withLock { result != nil } }

  func finish(_ value: T) {
    let w = lock.withLock { () -> CheckedContinuation<T, Never>? in
      guard result == nil else { return nil }
      result = value
      let w = waiter
      waiter = nil
      return w
    }
    w?.resume(returning: value)
  }

  func value() async -> T {
    await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
      let ready = lock.withLock { () -> T? in
        if let result { return result }
        waiter = c
        return nil
      }
      if let ready { c.resume(returning: ready) }
    }
  }
}

/// A countdown shared by tasks.
final class Counter: @unchecked Sendable {
  private let lock = NSLock()
  private var value: Int
  init(_ value: Int) { self.value = value }
  func decrement() -> Int {
    lock.withLock {
      value -= 1; return value
    }
  }
  func increment() -> Int {
    lock.withLock {
      value += 1; return value
    }
  }
}
