import CairnCore

/// The metadata server's leader-only background block work: the repair scheduler and the
/// garbage collector, started together and stopped together.
public struct BlockMaintenance: Sendable {
  public let repair: RepairScheduler
  public let garbage: GarbageCollector
  private let tasks: [Task<Void, Never>]

  /// Validates the settings in `config` and starts both loops; they act only while `isLeader()`.
  public static func start(service: MetaService, config: MetaServerConfig, isLeader: @escaping @Sendable () -> Bool)
    throws(CairnError) -> BlockMaintenance
  {
    var repair = RepairOptions()
    if let v = config.repairGraceSeconds { repair.graceSeconds = v }
    if let v = config.repairBytesPerSecond { repair.bytesPerSecond = v }
    if let v = config.repairConcurrency { repair.concurrency = v }
    if let v = config.repairIntervalSeconds { repair.intervalSeconds = v }
    var garbage = GarbageOptions()
    if let v = config.gcGraceSeconds { garbage.graceSeconds = v }
    if let v = config.gcIntervalSeconds { garbage.intervalSeconds = v }
    guard repair.graceSeconds >= 0, repair.bytesPerSecond > 0, (1...256).contains(repair.concurrency),
      repair.intervalSeconds > 0
    else {
      throw .invalid("repair settings: grace >= 0, bytes per second > 0, concurrency 1…256 and interval > 0 are required")
    }
    guard garbage.graceSeconds >= 0, garbage.intervalSeconds > 0 else {
      throw .invalid("garbage collection settings: grace >= 0 and interval > 0 are required")
    }
    let repairScheduler = RepairScheduler(service: service, options: repair, isLeader: isLeader)
    let collector = GarbageCollector(service: service, options: garbage, isLeader: isLeader)
    return BlockMaintenance(
      repair: repairScheduler, garbage: collector, tasks: [repairScheduler.start(), collector.start()])
  }

  public func stop() { for task in tasks { task.cancel() } }
}
