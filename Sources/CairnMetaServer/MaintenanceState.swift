import CairnCore
import CairnWire

/// What the leader's background block maintenance (repair, garbage collection) shares with the
/// request handler: reports of bad copies waiting to be confirmed, and the counters shown by
/// `cairn cluster status`. In memory: a new leader starts from zero and recounts on its first pass.
public actor MaintenanceState {
  /// Most bad-copy reports queued; past this, new reports are dropped (the scrubber re-reports).
  static let maxQueuedReports = 100_000

  private(set) var health = BlockHealthStatus()
  /// Blocks each server holds according to the last full scan (drain progress).
  private(set) var recordedPerServer: [UInt64: UInt64] = [:]
  /// A full scan has counted `recordedPerServer` (absent servers then hold zero blocks).
  private(set) var hasCountedServers = false
  private var reports: [UInt64: Set<BlockAddress>] = [:]
  private var queuedReports = 0

  public init() {}

  /// Queues bad-copy reports for the repair scheduler to confirm.
  func report(serverId: UInt64, addresses: [BlockAddress]) {
    for address in addresses where queuedReports < Self.maxQueuedReports {
      if reports[serverId, default: []].insert(address).inserted { queuedReports += 1 }
    }
  }

  /// Takes every queued report.
  func takeReports() -> [UInt64: Set<BlockAddress>] {
    defer {
      reports = [:]
      queuedReports = 0
    }
    return reports
  }

  func update(_ body: (inout BlockHealthStatus) -> Void) { body(&health) }

  func setRecordedPerServer(_ counts: [UInt64: UInt64]) {
    recordedPerServer = counts
    hasCountedServers = true
  }
}
