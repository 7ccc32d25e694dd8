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
    let retained = Set((try? await client.history(volume, limit: 100_000))?.map(\.version) ?? [])
    let commits = recorder.history.operations.filter { $0.kind == .commit && $0.outcome != .fail }
    var paths: [String] = []
    for c in commits where !paths.contains(c.invoke.path ?? "") { if let p = c.invoke.path { paths.append(p) } }
    log("verifying \(paths.count) files and \(commits.filter { $0.outcome == .ok }.count) acknowledged versions")
    for path in paths { await verify(client, path: path, version: nil) }
    for c in commits where c.outcome == .ok {
      guard let path = c.invoke.path, let v = c.completion?.version, retained.contains(v) else { continue }
      await verify(client, path: path, version: v)
    }
    for m in cluster.metaNames { await metaState(m) }
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

  /// The versions one server lists, asked over a connection of its own (no redirects).
  func metaState(_ name: String) async {
    let op = recorder.invoke(.metaState, process: "verifier") { $0.detail = name }
    do throws(CairnError) {
      let connection = try await WireConnection.connect(to: try ServerAddress(parsing: cluster.realAddress(name)))
      defer { connection.close() }
      let reply = try await connection.call(
        .meta, payload: WireCodec.encode(MetaRequest.history(volume, limit: 100_000)), timeout: .seconds(10))
      guard case .history(let list) = try WireCodec.decode(MetaResponse.self, from: reply.payload) else {
        throw CairnError(.protocolError, "unexpected reply to history")
      }
      let sorted = list.sorted { $0.version < $1.version }
      recorder.complete(op, .ok, kind: .metaState, process: "verifier") {
        $0.detail = name
        $0.versions = sorted.map(\.version)
        $0.versionDigests = sorted.map { "\($0.parent)|\($0.author)|\($0.timeNanos)|\($0.changedPaths)|\($0.fileCount)|\($0.totalBytes)" }
      }
    } catch {
      recorder.complete(op, .fail, kind: .metaState, process: "verifier") {
        $0.detail = name
        $0.error = error.description
      }
    }
  }
}
