import CairnCore
import Logging

/// Background work that only the metadata leader does (repair, garbage collection): every
/// `intervalSeconds`, when this server leads, run one pass; a failed pass is logged and the next
/// one tries again.
enum LeaderLoop {
  static func start(
    name: String, intervalSeconds: Double, isLeader: @escaping @Sendable () -> Bool, logger: Logger,
    pass: @escaping @Sendable () async throws(CairnError) -> Void
  ) -> Task<Void, Never> {
    Task {
      while !Task.isCancelled {
        try? await Task.sleep(for: .milliseconds(Int(intervalSeconds * 1000)))
        guard isLeader(), !Task.isCancelled else { continue }
        do {
          try await pass()
        } catch {
          logger.warning("\(name) pass failed", metadata: ["error": "\(error)"])
        }
      }
    }
  }
}
