import ArgumentParser
import CairnClient
import CairnCore
import CairnWire
import Foundation

/// `cairn cluster drain-chunk ID`: moves every block off a chunk server so it can be removed.
struct ClusterDrainChunkCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "drain-chunk",
    abstract: "Move every block off a chunk server so it can be removed.",
    discussion: """
      The server stops taking new blocks at once; the metadata leader's repair copies each of its \
      blocks to other servers (rate-limited) and then deletes them from it. Progress is the number \
      of blocks the metadata still locates on the server (also in 'cairn cluster status'). With \
      --wait the command returns when that reaches zero; the server can then be stopped. \
      --cancel stops a drain (blocks already moved stay where they are).
      """)
  @OptionGroup var client: ClientOptions
  @Argument(help: "Chunk server id (see 'cairn cluster status').") var id: UInt64
  @Flag(help: "Stop draining this server.") var cancel = false
  @Flag(help: "Wait until no block is left on the server, showing progress.") var wait = false
  @Option(help: "Give up waiting after this many seconds.") var waitTimeout: Double = 3600

  func validate() throws {
    guard waitTimeout > 0 else { throw ValidationError("--wait-timeout must be positive") }
    guard !(cancel && wait) else { throw ValidationError("--wait makes no sense with --cancel") }
  }

  func run() async throws {
    try await reporting { () throws(CairnError) in
      let c = try client.makeClient()
      let servers = try await c.clusterStatus().chunkServers
      guard servers.contains(where: { $0.serverId == id }) else {
        throw .notFound("chunk server \(id) is not registered (see 'cairn cluster status')")
      }
      guard case .ok = try await c.meta.call(.drainChunkServer(id, isDraining: !cancel)) else {
        throw CairnError(.protocolError, "unexpected reply to drainChunkServer")
      }
      Terminal.out(cancel ? "chunk server \(id) is no longer draining" : "chunk server \(id) is draining")
      guard wait else { return }
      let deadline = Date().addingTimeInterval(waitTimeout)
      var last: UInt64?
      while Date() < deadline {
        let status = try await c.clusterStatus()
        let remaining = status.chunkServers.first { $0.serverId == id }?.recordedBlocks
        let passes = status.blocks?.repairPasses ?? 0
        if let remaining, remaining != last {
          Terminal.out("\(remaining) block(s) left on chunk server \(id)")
          last = remaining
        }
        // Zero after at least one full pass that started after the drain began.
        if remaining == 0, passes > 0 {
          Terminal.out("chunk server \(id) is drained: it holds no recorded block and can be removed")
          return
        }
        try? await Task.sleep(for: .seconds(1))
      }
      throw CairnError(.timeout, "chunk server \(id) still holds \(last.map(String.init) ?? "an unknown number of") block(s) after \(Int(waitTimeout)) s")
    }
  }
}
