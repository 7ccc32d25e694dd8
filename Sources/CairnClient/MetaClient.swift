import CairnCore
import CairnTransport
import CairnWire
import NIOCore

/// Talks to the metadata service: tries each known server in turn, so one unreachable server
/// costs a connect timeout, not a failure; every call is bounded by a deadline.
public final class MetaClient: Sendable {
  public let addresses: [ServerAddress]
  let pool: ConnectionPool
  let timeout: Duration

  public init(addresses: [ServerAddress], pool: ConnectionPool, timeout: Duration = .seconds(30)) {
    precondition(!addresses.isEmpty, "a metadata client needs at least one address")
    self.addresses = addresses
    self.pool = pool
    self.timeout = timeout
  }

  /// Sends `request` and returns the response. Errors the server reports (not found, conflict…)
  /// are returned as they are; transport failures move on to the next server and, when all
  /// fail, report `.unavailable` naming every address tried.
  public func call(_ request: MetaRequest, timeout: Duration? = nil) async throws(CairnError) -> MetaResponse {
    var failures: [String] = []
    for address in addresses {
      do throws(CairnError) {
        let connection = try await pool.connection(to: address)
        let reply = try await connection.call(.meta, payload: WireCodec.encode(request), timeout: timeout ?? self.timeout)
        return try WireCodec.decode(MetaResponse.self, from: reply.payload)
      } catch {
        switch error.code {
        case .unavailable, .notLeader:
          failures.append("\(address): \(error.message)")
          continue
        case .timeout:
          // The request may have been applied: the caller decides (commits carry idempotency keys).
          throw error
        default:
          throw error
        }
      }
    }
    throw CairnError(
      .unavailable, "metadata service unreachable (\(failures.joined(separator: "; ")))")
  }
}
