import CairnCore
import CairnMetadata
import CairnPlacement
import CairnTransport
import CairnWire

extension MetaService {
  /// Most times a commit is checked and proposed again after garbage collection raced it.
  static let maxGarbageRetries = 3

  /// Checks the commit's new blocks and proposes it; when garbage collection raced the check (a
  /// block was fenced, or a deletion finished in between), checks again and retries, a few times.
  func commitCheckingBlocks(_ commit: CommitRequest, timeNanos: Int64) async throws(CairnError) -> MetadataResult {
    var attempt = 0
    while true {
      let placements = try await checkBlocks(for: commit)
      do throws(CairnError) {
        return try await proposer.propose(.commit(commit, placements: placements, timeNanos: timeNanos))
      } catch {
        attempt += 1
        guard BlockOperations.isGarbageRefusal(error), attempt < Self.maxGarbageRetries else { throw error }
        try? await Task.sleep(for: .milliseconds(200 * attempt))
      }
    }
  }

  /// For every block a commit references that the metadata does not yet know as durable, asks the
  /// live chunk servers whether they hold it. Returns the placements to record; throws
  /// `.missingBlocks` naming every block held by fewer than a write quorum of servers.
  func checkBlocks(for commit: CommitRequest) async throws(CairnError) -> [BlockPlacement] {
    var lengths: [BlockAddress: UInt32] = [:]
    for change in commit.changes {
      if case .put(_, .file(let manifest, _)) = change {
        for block in manifest.blocks { if let a = block.address { lengths[a] = block.length } }
      }
    }
    guard !lengths.isEmpty else { return [] }
    let volume = try await read { r throws(CairnError) in try r.volume(commit.volume) }
    let quorum = Quorum.write(replicas: Int(volume.settings.replicationFactor))
    let addresses = lengths.keys.sorted()
    let known = try await read { r throws(CairnError) in try r.blocksKnown(addresses, quorum: quorum) }
    let unknown = zip(addresses, known).filter { !$0.1 }.map(\.0)
    guard !unknown.isEmpty else { return [] }
    // Read before asking the servers: if garbage collection deletes anything meanwhile, the epoch
    // moves and the commit is refused (retryably) instead of trusting answers from before.
    let epoch = try await read { r throws(CairnError) in try r.garbageEpoch() }
    let servers = await registry.statuses(try await read { r throws(CairnError) in try r.chunkServers() })
      .filter(\.isUp)
    var holders: [BlockAddress: [UInt64]] = [:]
    await withTaskGroup(of: (UInt64, [Bool]?).self) { group in
      for server in servers {
        group.addTask { [pool] in
          do {
            let address = try ServerAddress(parsing: server.address)
            let connection = try await pool.connection(to: address)
            var all: [Bool] = []
            for start in stride(from: 0, to: unknown.count, by: 10_000) {
              let batch = Array(unknown[start..<min(start + 10_000, unknown.count)])
              let reply = try await connection.call(
                .chunk, payload: WireCodec.encode(ChunkRequest.has(batch)), timeout: .seconds(10))
              guard case .has(let flags) = try WireCodec.decode(ChunkResponse.self, from: reply.payload),
                flags.count == batch.count
              else { return (server.serverId, nil) }
              all += flags
            }
            return (server.serverId, all)
          } catch {
            return (server.serverId, nil)
          }
        }
      }
      for await (id, flags) in group {
        guard let flags else { continue }
        for (address, has) in zip(unknown, flags) where has { holders[address, default: []].append(id) }
      }
    }
    var placements: [BlockPlacement] = []
    var missing: [String] = []
    for address in unknown {
      let on = holders[address] ?? []
      if on.count >= quorum {
        placements.append(
          BlockPlacement(
            address: address, length: lengths[address] ?? 0, servers: on.sorted(),
            replicas: volume.settings.replicationFactor, garbageEpoch: epoch))
      } else {
        missing.append(address.hex)
      }
    }
    if !missing.isEmpty {
      throw CairnError(
        .missingBlocks,
        "commit refused: \(missing.count) block(s) are durable on fewer than \(quorum) chunk servers (\(servers.count) up)",
        details: missing)
    }
    return placements
  }
}
