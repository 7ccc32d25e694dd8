import CairnCore
import CairnPlacement
import XCTest

final class RepairPlannerTests: XCTestCase {
  let gb: UInt64 = 1 << 30
  let grace: UInt64 = 10_000_000_000
  let block = BlockAddress.of(Array("block".utf8))

  func server(_ id: UInt64, up: Bool = true, downFor: UInt64 = 0, draining: Bool = false, free: UInt64? = nil, zone: String? = nil)
    -> ServerHealth
  {
    ServerHealth(
      serverId: id, zone: zone ?? "z\(id)", isUp: up, downForNanos: downFor, isDraining: draining, freeBytes: free ?? gb)
  }

  func plan(_ locations: [UInt64], _ servers: [ServerHealth], replicas: Int = 3) -> RepairPlan {
    RepairPlanner.plan(
      block, length: 4096, locations: locations, replicas: replicas, servers: servers, graceNanos: grace,
      minFreeBytes: 1 << 20)
  }

  func testHealthyBlockNeedsNothing() {
    let p = plan([1, 2, 3], (1...4).map { server($0) })
    XCTAssertEqual(p.healthy, [1, 2, 3])
    XCTAssertTrue(p.copies.isEmpty)
    XCTAssertFalse(p.isUnderReplicated)
  }

  func testServerDownWithinGraceIsNotReplacedYet() {
    let p = plan([1, 2, 3], [server(1), server(2), server(3, up: false, downFor: grace - 1), server(4)])
    XCTAssertEqual(p.unreachable, [3])
    XCTAssertTrue(p.copies.isEmpty)
    XCTAssertTrue(p.isUnderReplicated)
  }

  func testServerDownPastGraceIsReplacedFromHealthySources() {
    let p = plan([1, 2, 3], [server(1), server(2), server(3, up: false, downFor: grace), server(4), server(5)])
    XCTAssertEqual(p.lost, [3])
    XCTAssertEqual(p.copies.count, 1)
    let copy = try! XCTUnwrap(p.copies.first)
    XCTAssertTrue([4, 5].contains(copy.target))
    XCTAssertEqual(Set(copy.sources), [1, 2])
    XCTAssertTrue(p.droppable.isEmpty, "the lost location is kept until the copy exists")
    // Once the copy is recorded the lost location can go.
    let after = plan([1, 2, 3, copy.target], [server(1), server(2), server(3, up: false, downFor: grace), server(4), server(5)])
    XCTAssertEqual(after.droppable, [3])
    XCTAssertTrue(after.copies.isEmpty)
  }

  func testTwoOfFiveLostAreBothReplaced() {
    let servers = [server(1), server(2, up: false, downFor: grace), server(3, up: false, downFor: grace), server(4), server(5)]
    let p = plan([1, 2, 3], servers)
    XCTAssertEqual(Set(p.copies.map(\.target)), [4, 5])
    XCTAssertEqual(p.copies.first?.sources, [1])
  }

  func testFullAndDrainingServersAreNotTargets() {
    let servers = [server(1), server(2), server(3, up: false, downFor: grace), server(4, free: 1000), server(5, draining: true)]
    let p = plan([1, 2, 3], servers)
    XCTAssertTrue(p.copies.isEmpty)
    XCTAssertEqual(p.wanted, 2, "no eligible target: two copies is all that can exist")
  }

  func testDrainingCopyIsMovedThenDropped() {
    let servers = [server(1), server(2), server(3, draining: true), server(4)]
    let p = plan([1, 2, 3], servers)
    XCTAssertEqual(p.draining, [3])
    XCTAssertEqual(p.copies.map(\.target), [4])
    XCTAssertEqual(p.copies.first?.sources.last, 3, "a draining server is a source of last resort")
    XCTAssertTrue(p.droppable.isEmpty)
    XCTAssertEqual(plan([1, 2, 3, 4], servers).droppable, [3])
  }

  func testNoSourceMeansNoCopies() {
    let p = plan([1], [server(1, up: false, downFor: grace), server(2), server(3)])
    XCTAssertTrue(p.hasNoSource)
    XCTAssertTrue(p.copies.isEmpty)
    XCTAssertTrue(p.droppable.isEmpty, "the only (lost) location is kept: it may come back")
  }

  func testTargetsSpreadOverZonesNotYetUsed() {
    let servers = [
      server(1, zone: "a"), server(2, zone: "b"), server(3, up: false, downFor: grace, zone: "c"), server(4, zone: "a"),
      server(5, zone: "c"),
    ]
    XCTAssertEqual(plan([1, 2, 3], servers).copies.map(\.target), [5])
  }

  func testPlansAreDeterministic() {
    let servers = (1...8).map { server($0) }
    for i in 0..<100 {
      let address = BlockAddress.of(Array("b\(i)".utf8))
      let a = RepairPlanner.plan(address, length: 1, locations: [1], replicas: 3, servers: servers, graceNanos: grace, minFreeBytes: 0)
      let b = RepairPlanner.plan(address, length: 1, locations: [1], replicas: 3, servers: servers.reversed(), graceNanos: grace, minFreeBytes: 0)
      XCTAssertEqual(a.copies, b.copies)
      XCTAssertEqual(a.copies.count, 2)
    }
  }

  func testRateLimiterSpreadsBytesOverTime() {
    var limiter = ByteRateLimiter(bytesPerSecond: 1000, burstBytes: 1000)
    XCTAssertEqual(limiter.take(1000, nowNanos: 0), 0)
    XCTAssertEqual(limiter.take(500, nowNanos: 0), 500_000_000)
    XCTAssertEqual(limiter.take(500, nowNanos: 1_000_000_000), 0)
  }
}

final class LatencyTrackerTests: XCTestCase {
  func testFastestServerFirstAndUnknownInTheMiddle() {
    var t = LatencyTracker()
    t.record(1, nanos: 30_000_000)
    t.record(2, nanos: 1_000_000)
    t.record(3, nanos: 10_000_000)
    XCTAssertEqual(t.ordered([1, 2, 3]), [2, 3, 1])
    // Unknown server 9 ranks like the median of the measured ones (here server 1's 30 ms).
    XCTAssertEqual(t.ordered([1, 9, 2]), [2, 1, 9])
  }

  func testPenalizedServerGoesLast() {
    var t = LatencyTracker()
    t.record(1, nanos: 1_000_000)
    t.record(2, nanos: 2_000_000)
    t.penalize(1, penaltyNanos: 10_000_000_000)
    XCTAssertEqual(t.ordered([1, 2]), [2, 1])
  }

  func testThresholdIsTheNinetyFifthPercentile() {
    var t = LatencyTracker()
    XCTAssertEqual(t.hedgeThresholdNanos(), LatencyTracker.defaultThresholdNanos)
    for i in 1...100 { t.record(UInt64(i % 3), nanos: UInt64(i) * 1_000_000) }
    XCTAssertEqual(t.hedgeThresholdNanos(), 96_000_000)
    var fast = LatencyTracker()
    for _ in 0..<50 { fast.record(1, nanos: 1000) }
    XCTAssertEqual(fast.hedgeThresholdNanos(), LatencyTracker.minThresholdNanos)
  }
}
