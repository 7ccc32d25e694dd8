/// A chaos scenario: the incident it reproduces, the workload, the faults on a schedule and the
/// deadlines the checks hold the run to. Parsed from a TOML file by `ScenarioParser`.
public struct Scenario: Sendable, Equatable {
  /// File name without `.toml`, e.g. `may-2026-volumes-outage`.
  public var name: String
  /// The incident this scenario reproduces (the header of the file).
  public var incident: String
  /// What the scenario does and why it should pass on `ha` and fail on `spof`.
  public var summary: String
  public var seed: UInt64
  /// Length of the full run (`make chaos`).
  public var durationSeconds: Double
  /// Length of the short run (`make test`); every time in the scenario is scaled by
  /// `shortDurationSeconds / durationSeconds`, deadlines are not.
  public var shortDurationSeconds: Double
  public var workload: WorkloadSpec
  public var faults: [FaultSpec]
  public var deadlines: Deadlines

  public init(
    name: String, incident: String = "", summary: String = "", seed: UInt64 = 1, durationSeconds: Double = 60,
    shortDurationSeconds: Double = 30, workload: WorkloadSpec = WorkloadSpec(), faults: [FaultSpec] = [],
    deadlines: Deadlines = Deadlines()
  ) {
    self.name = name
    self.incident = incident
    self.summary = summary
    self.seed = seed
    self.durationSeconds = durationSeconds
    self.shortDurationSeconds = shortDurationSeconds
    self.workload = workload
    self.faults = faults
    self.deadlines = deadlines
  }

  /// The short variant: fault and storm start times scaled to `seconds` of run; each fault keeps
  /// its own length (a 6 s stall must stay longer than the deadlines it tests), and the run is
  /// stretched if a fault would otherwise end less than 5 s before its end.
  public func scaled(toDuration seconds: Double) -> Scenario {
    precondition(seconds > 0 && durationSeconds > 0, "durations must be positive")
    let factor = min(1, seconds / durationSeconds)
    var copy = self
    copy.faults = faults.map { $0.scaled(by: factor) }
    copy.workload.storms = workload.storms.map {
      MountStorm(atSeconds: $0.atSeconds * factor, mounts: $0.mounts, fuseMounts: $0.fuseMounts)
    }
    let steps = FaultSchedule.steps(for: copy, topology: .ha) + FaultSchedule.steps(for: copy, topology: .spof)
    let lastFault = steps.map(\.time).max() ?? 0
    copy.durationSeconds = max(seconds, lastFault + 5)
    return copy
  }
}

/// The function-container workload: short-lived containers that mount, read the shared model,
/// write their checkpoint, commit, reload and exit; long-running ones that keep reading; mount
/// storms.
public struct WorkloadSpec: Sendable, Equatable {
  public var volume: String = "chaos"
  /// Short-lived client-library containers started per second.
  public var containersPerSecond: Double = 4
  /// Most short-lived containers running at once.
  public var concurrency: Int = 8
  /// Long-running client-library containers (running reads for the whole run).
  public var runningContainers: Int = 4
  /// Long-running containers that use a real FUSE mount.
  public var fuseContainers: Int = 1
  /// Size of the shared model file every container reads.
  public var modelBytes: Int = 2 << 20
  /// Size of each checkpoint a container writes.
  public var checkpointBytes: Int = 256 << 10
  /// Model reads per short-lived container.
  public var readsPerContainer: Int = 2
  /// A long-running container commits a checkpoint every this many seconds.
  public var commitEverySeconds: Double = 3
  public var storms: [MountStorm] = []

  public init() {}
}

/// Hundreds of mounts starting at once.
public struct MountStorm: Sendable, Equatable {
  public var atSeconds: Double
  /// Client-library mounts (lookups of the volume and its tree, then a read).
  public var mounts: Int
  /// Real FUSE mounts started at the same moment.
  public var fuseMounts: Int

  public init(atSeconds: Double, mounts: Int, fuseMounts: Int = 0) {
    self.atSeconds = atSeconds
    self.mounts = mounts
    self.fuseMounts = fuseMounts
  }
}

/// What a scenario requires of the run, per operation kind.
public struct Deadlines: Sendable, Equatable {
  /// Least fraction of operations invoked during the fault period that must succeed, per kind.
  public var minAvailability: [OperationKind: Double] = [:]
  /// Longest time, per kind, with operations wanted and none succeeding.
  public var maxUnavailableSeconds: [OperationKind: Double] = [:]
  /// After the last fault ends, every kind must succeed again within this time.
  public var recoverWithinSeconds: Double = 30
  /// Slowest acceptable successful read (a slow replica must not stall readers for longer).
  public var maxReadLatencySeconds: Double?
  /// For availability, an operation that succeeded (or, for a commit, was queued) only after
  /// longer than this counts as unavailable: a container blocked for the whole outage was not
  /// served, whatever the outcome said in the end.
  public var slowOperationSeconds: Double = 5
  /// Per-kind overrides of `slowOperationSeconds` (a mount storm's mounts queue in the harness).
  public var slowOperationSecondsPerKind: [OperationKind: Double] = [:]

  /// The slow-operation bound for `kind`.
  public func slowBound(_ kind: OperationKind) -> Double { slowOperationSecondsPerKind[kind] ?? slowOperationSeconds }

  public init() {}
}
