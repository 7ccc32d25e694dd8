import CairnRaft
import Foundation

/// A tiny etcd-style scenario language over `TestCluster`. A script is a sequence of blocks
/// separated by blank lines; each block is a command, a `----` line, and the expected output.
///
/// Commands: `campaign N`, `tick N [count]`, `propose N text`, `read N id`, `isolate N`,
/// `cut A B` (one-way), `heal`, `stabilize`, `transfer N M`, `add N M`, `remove N M`,
/// `compact N`, `restart N`, `status`, `log N`.
struct ScriptRunner {
  var cluster: TestCluster

  init(voters: [UInt64], spare: [UInt64] = [], configure: (inout RaftOptions) -> Void = { _ in }) {
    cluster = TestCluster(voters: voters, spare: spare, configure: configure)
  }

  /// Runs `script` and returns it with the actual outputs filled in (equal to the input when
  /// every expectation holds).
  mutating func run(_ script: String) -> String {
    var blocks: [String] = []
    for block in script.split(separator: "\n\n", omittingEmptySubsequences: true) {
      let lines = block.split(separator: "\n").map(String.init)
      guard let command = lines.first?.trimmingCharacters(in: .whitespaces), !command.isEmpty
      else { continue }
      let output = execute(command)
      blocks.append(([command, "----"] + output).joined(separator: "\n"))
    }
    return blocks.joined(separator: "\n\n") + "\n"
  }

  private mutating func execute(_ command: String) -> [String] {
    let words = command.split(separator: " ").map(String.init)
    let numbers = words.dropFirst().compactMap { UInt64($0) }
    let first = numbers.first ?? 0
    let second = numbers.dropFirst().first ?? 0
    var effects: [RaftEffects] = []
    switch words.first ?? "" {
    case "campaign": effects.append(cluster.step(first, .campaign))
    case "tick":
      for _ in 0..<(numbers.count > 1 ? Int(second) : 1) { effects.append(cluster.step(first, .tick)) }
    case "propose":
      let text = words.dropFirst(2).joined(separator: " ")
      effects.append(cluster.step(first, .propose(id: 0, command: Array(text.utf8))))
    case "read": effects.append(cluster.step(first, .readIndex(id: second)))
    case "isolate": cluster.isolate(first)
    case "cut": cluster.cutLinks.insert([first, second])
    case "heal": cluster.heal()
    case "stabilize":
      let before = cluster.readsReady
      cluster.deliverAll()
      return statusLines() + newReads(since: before)
    case "transfer": effects.append(cluster.step(first, .transferLeadership(to: NodeID(second))))
    case "add": effects.append(cluster.step(first, .changeMembership(id: 0, .addVoter(NodeID(second)))))
    case "remove":
      effects.append(cluster.step(first, .changeMembership(id: 0, .removeVoter(NodeID(second)))))
    case "compact":
      let applied = cluster[first].appliedIndex
      effects.append(cluster.step(first, .compact(appliedIndex: applied, data: Array("state@\(applied)".utf8))))
    case "restart":
      cluster.restart(first)
      effects.append(cluster.step(first, .tick))
    case "status": return statusLines()
    case "log": return logLines(of: first)
    default: return ["unknown command"]
    }
    return effects.flatMap(describe)
  }

  private func statusLines() -> [String] {
    cluster.nodes.keys.sorted().map { id in
      let node = cluster[id.rawValue]
      let voters = node.membership.voters.map { String($0.rawValue) }.joined(separator: ",")
      return "\(id): \(node.role.rawValue) term=\(node.term) last=\(node.lastIndex) "
        + "commit=\(node.commitIndex) applied=\(node.appliedIndex) "
        + "snapshot=\(node.snapshotMetadata.index) voters=\(voters)"
    }
  }

  private func newReads(since before: [NodeID: [ReadState]]) -> [String] {
    cluster.readsReady.keys.sorted().flatMap { id in
      (cluster.readsReady[id] ?? []).dropFirst(before[id]?.count ?? 0).map {
        "\(id): read \($0.id) ready at \($0.index)"
      }
    }
  }

  private func logLines(of raw: UInt64) -> [String] {
    let node = cluster[raw]
    let first = node.snapshotMetadata.index + 1
    guard first <= node.lastIndex else { return ["(empty after snapshot \(first - 1))"] }
    return (first...node.lastIndex).compactMap { node.entry(at: $0) }.map { entry in
      let payload: String
      switch entry.payload {
      case .noop: payload = "noop"
      case .command(let bytes): payload = "\"\(String(decoding: bytes, as: UTF8.self))\""
      case .membershipChange(let change, let result):
        payload = "\(change) -> \(result.voters.map(\.rawValue))"
      }
      return "\(entry.index)@\(entry.term) \(payload)"
    }
  }

  private func describe(_ effects: RaftEffects) -> [String] {
    var lines: [String] = []
    if let snapshot = effects.snapshotToPersist {
      let verb = effects.installsSnapshot ? "install" : "persist"
      lines.append("\(verb) snapshot \(snapshot.metadata.index)@\(snapshot.metadata.term)")
    }
    for outcome in effects.proposals {
      switch outcome {
      case .appended(_, let index, let term): lines.append("appended at \(index)@\(term)")
      case .rejected(_, let reason): lines.append("rejected: \(reason)")
      }
    }
    for read in effects.readsReady { lines.append("read \(read.id) ready at \(read.index)") }
    for read in effects.readsFailed { lines.append("read \(read.id) failed: \(read.reason)") }
    for message in effects.messages { lines.append("send \(message.from)->\(message.to) t\(message.term) \(Self.summary(of: message.kind))") }
    return lines
  }

  static func summary(of kind: MessageKind) -> String {
    switch kind {
    case .preVoteRequest(let index, let term): return "PreVote last=\(index)@\(term)"
    case .preVoteResponse(let granted): return granted ? "PreVote granted" : "PreVote refused"
    case .voteRequest(let index, let term, let transfer):
      return "Vote last=\(index)@\(term)" + (transfer ? " transfer" : "")
    case .voteResponse(let granted): return granted ? "Vote granted" : "Vote refused"
    case .appendRequest(let previousIndex, let previousTerm, let entries, let commit):
      return "Append prev=\(previousIndex)@\(previousTerm) entries=\(entries.count) commit=\(commit)"
    case .appendResponse(let success, let index, let hint):
      return success ? "AppendOK \(index)" : "AppendRejected \(index) hint=\(hint)"
    case .heartbeat(let commit, let round): return "Heartbeat commit=\(commit) round=\(round)"
    case .heartbeatResponse(let round): return "HeartbeatOK round=\(round)"
    case .installSnapshot(let snapshot):
      return "InstallSnapshot \(snapshot.metadata.index)@\(snapshot.metadata.term)"
    case .timeoutNow: return "TimeoutNow"
    }
  }
}
