import CairnCore
import Foundation

/// Whether one mount can reach the metadata service, and when to try again after it could not.
/// Pure: every input carries its time, nothing is read from a clock here.
///
/// Connected → degraded on the first call that finds the service unreachable; degraded →
/// connected on the first call that gets an answer. While degraded, calls that need the service
/// fail at once (served from the node cache when they can) except one probe at a time, due after a
/// backoff that doubles from `minProbeDelaySeconds` to `maxProbeDelaySeconds`.
public struct Connectivity: Sendable, Equatable {
  public enum State: Sendable, Equatable {
    case connected
    case degraded(since: Date)
  }

  public private(set) var state: State = .connected
  /// The last error that made (or kept) the service unreachable.
  public private(set) var lastError: String?
  public private(set) var lastErrorTime: Date?
  /// Earliest time a call may try the service again while degraded.
  public private(set) var nextAttempt: Date?
  private var delaySeconds: Double

  public static let minProbeDelaySeconds = 0.5
  public static let maxProbeDelaySeconds = 4.0

  public init() { delaySeconds = Self.minProbeDelaySeconds }

  public var isConnected: Bool { state == .connected }

  public var degradedSince: Date? {
    if case .degraded(let since) = state { return since }
    return nil
  }

  /// True when a call should contact the service now: always while connected, once per backoff
  /// period while degraded.
  public func mayTry(at now: Date) -> Bool {
    guard !isConnected, let nextAttempt else { return true }
    return now >= nextAttempt
  }

  /// Marks that a call is about to try the service while degraded, so concurrent calls keep
  /// failing fast until it reports back.
  public mutating func willTry(at now: Date) {
    guard !isConnected else { return }
    nextAttempt = now.addingTimeInterval(delaySeconds)
  }

  /// The service answered. Returns true when this ends a degraded period.
  @discardableResult
  public mutating func succeeded(at now: Date) -> Bool {
    let wasDegraded = !isConnected
    state = .connected
    nextAttempt = nil
    delaySeconds = Self.minProbeDelaySeconds
    return wasDegraded
  }

  /// The service could not be reached. Returns true when this starts a degraded period.
  @discardableResult
  public mutating func failed(_ error: String, at now: Date) -> Bool {
    let wasConnected = isConnected
    if wasConnected {
      state = .degraded(since: now)
      delaySeconds = Self.minProbeDelaySeconds
    } else {
      delaySeconds = min(Self.maxProbeDelaySeconds, delaySeconds * 2)
    }
    lastError = error
    lastErrorTime = now
    nextAttempt = now.addingTimeInterval(delaySeconds)
    return wasConnected
  }

  /// True for the errors that mean "the metadata service did not answer" (as opposed to an
  /// answer such as not found or conflict).
  public static func isUnreachable(_ code: CairnError.Code) -> Bool {
    switch code {
    case .unavailable, .timeout, .notLeader, .unknownOutcome: return true
    default: return false
    }
  }
}

/// What a backend reports about its connection, for `cairn status`.
public struct BackendHealth: Sendable, Equatable {
  public var isConnected: Bool
  public var degradedSince: Date?
  public var lastError: String?
  public var lastErrorTime: Date?
  /// Where the volume's information came from the last time it was read while unreachable.
  public var versionSource: String?
}
