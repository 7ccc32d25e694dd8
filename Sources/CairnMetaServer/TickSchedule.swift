/// When the Raft ticks of a member are due, on a monotonic clock, without drift.
///
/// Tick `k` is due at `start + k · interval`, whatever the wake-up latency of the timer: the
/// timer sleeps until `nextDeadline` and asks `take(at:)` how many ticks are due then. A
/// sleeping loop that adds its own wake-up latency to every tick would stretch a 10-tick
/// election timeout by 10 latencies on a loaded machine.
///
/// When the timer is behind (a busy machine, a process resumed after SIGSTOP), the missed ticks
/// are delivered at once, but at most `maxCatchUp` of them (one election timeout is enough for
/// a resumed follower to campaign and a resumed leader to check its quorum); ticks beyond the
/// cap are dropped, so a long pause never floods the loop, and the schedule stays on its grid.
struct TickSchedule: Sendable, Equatable {
  let interval: Duration
  let maxCatchUp: Int
  /// When the next tick is due.
  private(set) var nextDeadline: ContinuousClock.Instant

  init(start: ContinuousClock.Instant, interval: Duration, maxCatchUp: Int) {
    precondition(interval > .zero, "a tick interval must be positive")
    precondition(maxCatchUp >= 1, "at least one tick must be deliverable at a time")
    self.interval = interval
    self.maxCatchUp = maxCatchUp
    self.nextDeadline = start + interval
  }

  /// The number of ticks due at `now` (0 if `now` is before the next deadline, at most
  /// `maxCatchUp`), and moves the deadline past `now` on the grid of the start instant.
  mutating func take(at now: ContinuousClock.Instant) -> Int {
    guard now >= nextDeadline else { return 0 }
    let late = Self.nanoseconds(now - nextDeadline)
    let step = Self.nanoseconds(interval)
    let due = late / step + 1  // the tick at nextDeadline, plus every whole interval since
    nextDeadline = nextDeadline + interval * due
    return Int(min(due, Int64(maxCatchUp)))
  }

  static func nanoseconds(_ d: Duration) -> Int64 {
    let (seconds, attoseconds) = d.components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
  }
}
