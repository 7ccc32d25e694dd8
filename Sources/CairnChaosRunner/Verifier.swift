import CairnChaos
import CairnClient
import CairnCore
import CairnTransport
import CairnWire
import Foundation

/// After the faults end and the workload stops: re-reads every committed file at the head and at
/// each acknowledged version (straight to the servers, not through the proxies), and records the
/// versions each metadata server holds. The results go to the history as `verify` and
/// `meta-state` operations for the checkers.
struct Verifier {
  let cluster: ChaosCluster
  let recorder: HistoryRecorder
  let volume: VolumeName
  let log: @Sendable (String) -> Void

  func run(waitSeconds: Double) async {
    do throws(CairnError) {
      try await cluster.waitHealthy(seconds: waitSeconds)
    } catch {
      log("cluster not healthy for verification: \(error.message)")
    }
    guard let client = try? cluster.directClient() else { return }
    defer { Task { await client.close() } }
    let history = ((try? await client.history(volume, limit: 100_000)) ?? []).map(\.version).sorted()
    let retained = Set(history)
    let commits = recorder.history.operations.filter { $0.kind == .commit && $0.outcome != .fail }
    var paths: [String] = []
    for c in commits where !paths.contains(c.invoke.path ?? "") { if let p = c.invoke.path { paths.append(p) } }
    log("verifying \(paths.count) files and \(commits.filter { $0.outcome == .ok }.count) acknowledged versions")
    for path in paths { await verify(client, path: path, version: nil) }
    for c in commits where c.outcome == .ok {
      guard let path = c.invoke.path, let v = c.completion?.version, retained.contains(v) else { continue }
      await verify(client, path: path, version: v)
    }
    for m in cluster.metaNames { await metaState(m, versions: history) }
  }

  func verify(_ client: CairnClient, path: String, version: UInt64?) async {
    let op = recorder.invoke(.verify, process: "verifier") {
      $0.path = path
      $0.version = version
      $0.volume = volume.rawValue
    }
    do throws(CairnError) {
      let entry = try await client.lookup(volume, try VolumePath(path), version: version).entry
      var bytes: [UInt8] = []
      for ref in entry.manifest.blocks { bytes += try await client.blocks.fetch(ref, locations: nil) }
      let hash = BlockAddress.of(bytes).hex
      recorder.complete(op, .ok, kind: .verify, process: "verifier") {
        $0.hash = hash
        $0.path = path
        $0.version = version
      }
    } catch {
      recorder.complete(op, .fail, kind: .verify, process: "verifier") {
        $0.error = error.description
        $0.path = path
      }
    }
  }

  /// The versions one server holds, asked over a connection of its own (no redirects): for each
  /// retained version (from the leader's history), the diff from the version before it — which
  /// any replica that has applied that version answers. A follower still catching up gets a few
  /// seconds.
  func metaState(_ name: String, versions: [UInt64]) async {
    let op = recorder.invoke(.metaState, process: "verifier") { $0.detail = name }
    var held: [UInt64] = []
    var digests: [String] = []
    do throws(CairnError) {
      let connection = try await WireConnection.connect(to: try ServerAddress(parsing: cluster.realAddress(name)))
      defer { connection.close() }
      for (previous, version) in zip(versions, versions.dropFirst()) {
        var attempt = 0
        while true {
          do throws(CairnError) {
            let reply = try await connection.call(
              .meta, payload: WireCodec.encode(MetaRequest.diff(volume, from: previous, to: version)), timeout: .seconds(10))
            guard case .diff(let entries) = try WireCodec.decode(MetaResponse.self, from: reply.payload) else {
              throw CairnError(.protocolError, "unexpected reply to diff")
            }
            held.append(version)
            digests.append(
              entries.map { "\($0.path) \($0.kind) \($0.oldSize) \($0.newSize)" }.sorted().joined(separator: ";"))
            break
          } catch {
            attempt += 1
            guard error.code == .notLeader || error.code == .unavailable, attempt < 20 else { throw error }
            try? await Task.sleep(for: .milliseconds(250))
          }
        }
      }
      recorder.complete(op, .ok, kind: .metaState, process: "verifier") {
        $0.detail = name
        $0.versions = held
        $0.versionDigests = digests
      }
    } catch {
      recorder.complete(op, .fail, kind: .metaState, process: "verifier") {
        $0.detail = name
        $0.error = "after version \(held.last ?? versions.first ?? 0): \(error.description)"
      }
    }
  }
}
