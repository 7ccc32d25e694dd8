import XCTest

@testable import CairnMetaServer

/// The tick timer's catch-up arithmetic, on instants computed from a fixed start (no sleeping).
final class TickScheduleTests: XCTestCase {
  let start = ContinuousClock.now

  func at(_ ms: Int) -> ContinuousClock.Instant { start + .milliseconds(ms) }

  func testOnTimeWakeUpsGiveOneTickEach() {
    var s = TickSchedule(start: start, interval: .milliseconds(100), maxCatchUp: 10)
    XCTAssertEqual(s.nextDeadline, at(100))
    XCTAssertEqual(s.take(at: at(99)), 0, "not due yet")
    XCTAssertEqual(s.nextDeadline, at(100))
    XCTAssertEqual(s.take(at: at(100)), 1)
    XCTAssertEqual(s.nextDeadline, at(200))
    XCTAssertEqual(s.take(at: at(200)), 1)
    XCTAssertEqual(s.nextDeadline, at(300))
  }

  func testLateWakeUpsDoNotDrift() {
    // Every wake-up 30 ms late: a sleep-for-interval loop would give 20 ticks in 2.6 s.
    var s = TickSchedule(start: start, interval: .milliseconds(100), maxCatchUp: 10)
    var ticks = 0
    var now = 0
    while now < 2000 {
      now = Int((s.nextDeadline - start) / .milliseconds(1)) + 30
      if now > 2030 { break }
      ticks += s.take(at: at(now))
    }
    XCTAssertEqual(ticks, 20, "20 ticks due by 2.0 s of wall time")
    XCTAssertEqual(s.nextDeadline, at(2100), "still on the 100 ms grid")
  }

  func testMissedTicksAreDeliveredAtOnce() {
    var s = TickSchedule(start: start, interval: .milliseconds(100), maxCatchUp: 10)
    XCTAssertEqual(s.take(at: at(350)), 3, "ticks at 100, 200 and 300 ms")
    XCTAssertEqual(s.nextDeadline, at(400))
    XCTAssertEqual(s.take(at: at(400)), 1)
  }

  func testALongPauseIsCappedAndStaysOnTheGrid() {
    // A process resumed after 60 s of SIGSTOP: one election timeout of ticks, not 600.
    var s = TickSchedule(start: start, interval: .milliseconds(100), maxCatchUp: 10)
    XCTAssertEqual(s.take(at: at(60_050)), 10)
    XCTAssertEqual(s.nextDeadline, at(60_100))
    XCTAssertEqual(s.take(at: at(60_100)), 1)
  }

  func testSubMillisecondIntervals() {
    var s = TickSchedule(start: start, interval: .microseconds(250), maxCatchUp: 5)
    XCTAssertEqual(s.take(at: start + .microseconds(999)), 3)
    XCTAssertEqual(s.nextDeadline, start + .microseconds(1000))
  }
}
