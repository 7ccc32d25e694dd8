import ArgumentParser
import CairnClient
import CairnCore
import CairnTransport
import CairnWire

/// Talks `.raft` requests to the metadata servers: status of each member, and membership and
/// leadership changes sent to the leader (following `.notLeader` redirects).
struct MetaAdmin {
  let addresses: [ServerAddress]
  let pool = ConnectionPool(connectionsPerAddress: 1, connectTimeout: .seconds(2))
  let timeout: Duration

  func call(_ request: RaftRequest, at address: ServerAddress, timeout: Duration? = nil) async throws(CairnError)
    -> RaftResponse
  {
    let connection = try await pool.connection(to: address)
    let reply = try await connection.call(.raft, payload: WireCodec.encode(request), timeout: timeout ?? self.timeout)
    return try WireCodec.decode(RaftResponse.self, from: reply.payload)
  }

  /// Each member's status (nil where it did not answer, with the reason), starting from the
  /// configured addresses and adding members they report.
  func statuses() async -> [(address: String, status: MetaMemberStatus?, problem: String?)] {
    var queue = addresses.map(\.description)
    var seen = Set<String>()
    var out: [(String, MetaMemberStatus?, String?)] = []
    while !queue.isEmpty {
      let text = queue.removeFirst()
      guard seen.insert(text).inserted else { continue }
      do throws(CairnError) {
        guard case .status(let status) = try await call(.status, at: try ServerAddress(parsing: text)) else {
          throw CairnError(.protocolError, "unexpected reply to a status request")
        }
        out.append((text, status, nil))
        for member in status.members where !member.address.isEmpty { queue.append(member.address) }
      } catch {
        out.append((text, nil, error.message))
      }
    }
    return out
  }

  /// Sends `request` to the leader: tries each known server, following redirects.
  func toLeader(_ request: RaftRequest, timeout: Duration? = nil) async throws(CairnError) -> RaftResponse {
    var queue = addresses
    var tried = Set<ServerAddress>()
    var problems: [String] = []
    while !queue.isEmpty {
      let address = queue.removeFirst()
      guard tried.insert(address).inserted else { continue }
      do throws(CairnError) {
        return try await call(request, at: address, timeout: timeout)
      } catch {
        guard error.code == .notLeader || error.code == .unavailable else { throw error }
        problems.append("\(address): \(error.message)")
        if let hint = error.details.first, let leader = try? ServerAddress(parsing: hint) { queue.insert(leader, at: 0) }
      }
    }
    throw CairnError(.unavailable, "no metadata leader answered (\(problems.joined(separator: "; ")))")
  }

  func close() async { await pool.closeAll() }
}

extension ClientOptions {
  func makeAdmin() throws(CairnError) -> MetaAdmin {
    MetaAdmin(addresses: try resolveAddresses(), timeout: .milliseconds(Int(timeout * 1000)))
  }
}

struct ClusterAddMeta: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "add-meta",
    abstract: "Add a metadata server to the Raft group (start it first with 'cairn meta serve --join').")
  @OptionGroup var client: ClientOptions
  @Argument(help: "The new member as ID=HOST:PORT.") var member: String

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let parts = member.split(separator: "=", maxSplits: 1).map(String.init)
      guard parts.count == 2, let id = UInt64(parts[0]), id > 0 else {
        throw .invalid("the member must look like ID=HOST:PORT with a positive ID, not '\(member)'")
      }
      let address = try ServerAddress(parsing: parts[1])
      let admin = try client.makeAdmin()
      _ = try await admin.toLeader(.addMember(id: id, address: address.description))
      await admin.close()
      Terminal.out("metadata server \(id) (\(address)) added to the group")
    }
  }
}

struct ClusterRemoveMeta: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "remove-meta", abstract: "Remove a metadata server from the Raft group (then stop it).")
  @OptionGroup var client: ClientOptions
  @Argument(help: "The member id.") var id: UInt64

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let admin = try client.makeAdmin()
      _ = try await admin.toLeader(.removeMember(id: id))
      await admin.close()
      Terminal.out("metadata server \(id) removed from the group; it can be stopped now")
    }
  }
}

struct ClusterTransferLeader: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "transfer-leader", abstract: "Hand Raft leadership to another metadata server.")
  @OptionGroup var client: ClientOptions
  @Argument(help: "The member to lead (default: the most up-to-date follower).") var id: UInt64?

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let admin = try client.makeAdmin()
      let reply = try await admin.toLeader(.transferLeader(to: id), timeout: .seconds(15))
      await admin.close()
      guard case .status(let status) = reply else { throw CairnError(.protocolError, "unexpected reply") }
      Terminal.out("metadata server \(status.leaderId) leads now (term \(status.term))")
    }
  }
}
