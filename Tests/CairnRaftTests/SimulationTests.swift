import CairnRaft
import CairnSimulation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The deterministic simulation over many seeds. `CAIRN_SIM_SEEDS=<count>` runs more seeds
/// (a soak); `CAIRN_SIM_SEED=<seed>` replays one seed with a verbose trace.
final class SimulationTests: XCTestCase {
  private static let defaultSeedCount = 10_000

  func testSimulationHoldsEveryInvariantAcrossSeeds() throws {
    let environment = ProcessInfo.processInfo.environment
    if let single = environment["CAIRN_SIM_SEED"].flatMap(UInt64.init) {
      let result = Simulator(seed: single, traceSink: { print($0) }).run()
      print("seed \(single): trace hash \(result.traceHash), \(result.statistics)")
      if let failure = result.failure { XCTFail(failure.description) }
      return
    }
    let count = environment["CAIRN_SIM_SEEDS"].flatMap(Int.init) ?? Self.defaultSeedCount
    let first = environment["CAIRN_SIM_FIRST_SEED"].flatMap(UInt64.init) ?? 1
    var totals = SimulationStatistics()
    let started = ContinuousClock.now
    for seed in first..<(first + UInt64(count)) {
      CrashReporter.setCurrentSeed(seed)
      let result = Simulator(seed: seed).run()
      totals.add(result.statistics)
      if let failure = result.failure {
        XCTFail(failure.description)
        return
      }
    }
    print(
      "simulated \(count) seeds in \(ContinuousClock.now - started): \(totals)")
  }
}
