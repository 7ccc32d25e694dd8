import CairnRaft

/// Client requests and faults, chosen by seeded weights; and the final settling phase.
extension Simulator {
  private enum Action: CaseIterable {
    case propose, read, crash, partition, heal, membership, transfer, compact, campaign
  }

  private func weight(of action: Action) -> Int {
    switch action {
    case .propose: return options.proposeWeight
    case .read: return options.readWeight
    case .crash: return options.crashWeight
    case .partition: return options.partitionWeight
    case .heal: return options.healWeight
    case .membership: return options.membershipWeight
    case .transfer: return options.transferWeight
    case .compact: return options.compactWeight
    case .campaign: return options.campaignWeight
    }
  }

  func performAction() {
    guard !isSettling else { return }
    let total = Action.allCases.reduce(0) { $0 + weight(of: $1) }
    guard total > 0 else { return }
    var pick = random.int(in: 0...(total - 1))
    var chosen = Action.propose
    for action in Action.allCases {
      if pick < weight(of: action) {
        chosen = action
        break
      }
      pick -= weight(of: action)
    }
    switch chosen {
    case .propose: propose()
    case .read: read()
    case .crash: crashSomeNode()
    case .partition: partition()
    case .heal: healNetwork()
    case .membership: changeMembership()
    case .transfer: transferLeadership()
    case .compact: compact()
    case .campaign:
      let target = random.int(in: 0...(nodes.count - 1))
      record(20, target, 0, "n\(target + 1) campaigns (forced election timeout)")
      step(target, .campaign)
    }
  }

  /// The live node that believes it leads the highest term, if any.
  var currentLeader: Int? {
    var best: Int?
    for (index, node) in nodes.enumerated() {
      guard let raft = node.raft, raft.isLeader else { continue }
      if let current = best, let bestRaft = nodes[current].raft, bestRaft.term >= raft.term {
        continue
      }
      best = index
    }
    return best
  }

  /// Mostly the newest leader; often any node that still believes it leads (a client with a
  /// stale view, which is how stale reads would surface); sometimes any node at all.
  private func clientTarget() -> Int {
    let roll = random.int(in: 0...99)
    if roll < 50, let leader = currentLeader { return leader }
    let believers = nodes.indices.filter { nodes[$0].raft?.isLeader == true }
    if roll < 85, let believer = random.element(of: believers) { return believer }
    return random.int(in: 0...(nodes.count - 1))
  }

  private func propose() {
    let target = clientTarget()
    let id = nextCommandID
    nextCommandID += 1
    let command = SimulatedStateMachine.command(id: id, padding: random.int(in: 0...40))
    record(10, target, id, "propose command \(id) at n\(target + 1)")
    step(target, .propose(id: id, command: command))
  }

  private func read() {
    let target = clientTarget()
    let id = nextReadID
    nextReadID += 1
    checker.readStarts[id] = (target, checker.highestAcknowledgedIndex)
    record(11, target, id, "read \(id) at n\(target + 1)")
    step(target, .readIndex(id: id))
  }

  private func crashSomeNode() {
    let down = nodes.filter { !$0.isUp }.count
    guard down < options.voterCount / 2 + 1 else { return }
    if let leader = currentLeader, random.chance(perMille: 500) {
      crash(leader)
    } else {
      crash(random.int(in: 0...(nodes.count - 1)))
    }
  }

  private func partition() {
    let count = nodes.count
    switch random.int(in: 0...2) {
    case 0:
      let isolated = random.int(in: 0...(count - 1))
      record(12, isolated, 0, "isolate n\(isolated + 1)")
      for other in 0..<count where other != isolated {
        blockedLinks[isolated][other] = true
        blockedLinks[other][isolated] = true
      }
    case 1:
      var side = (0..<count).map { _ in random.chance(perMille: 500) }
      side[0] = !side[1]  // never everyone on one side
      record(13, 0, 0, "split \(side)")
      for a in 0..<count {
        for b in 0..<count where side[a] != side[b] { blockedLinks[a][b] = true }
      }
    default:
      let from = random.int(in: 0...(count - 1))
      let to = (from + random.int(in: 1...(count - 1))) % count
      record(14, from, UInt64(to), "one-way block n\(from + 1) -> n\(to + 1)")
      blockedLinks[from][to] = true
    }
  }

  func healNetwork() {
    record(15, 0, 0, "heal network")
    for a in blockedLinks.indices {
      for b in blockedLinks[a].indices { blockedLinks[a][b] = false }
    }
  }

  private func changeMembership() {
    guard let leader = currentLeader, let raft = nodes[leader].raft else { return }
    let voters = raft.membership.voters
    let change: MembershipChange
    if voters.count > options.voterCount, let victim = random.element(of: voters) {
      change = .removeVoter(victim)
    } else {
      let candidates = nodes.map(\.id).filter { !voters.contains($0) }
      guard let newcomer = random.element(of: candidates) else { return }
      change = .addVoter(newcomer)
    }
    statistics.membershipChanges += 1
    record(16, leader, 0, "n\(leader + 1) proposes \(change)")
    step(leader, .changeMembership(id: nextCommandID, change))
    nextCommandID += 1
  }

  private func transferLeadership() {
    guard let leader = currentLeader, let raft = nodes[leader].raft,
      let target = random.element(of: raft.membership.voters.filter { $0 != raft.id })
    else { return }
    statistics.transfers += 1
    record(17, leader, target.rawValue, "n\(leader + 1) transfers leadership to \(target)")
    step(leader, .transferLeadership(to: target))
  }

  private func compact() {
    let target = random.int(in: 0...(nodes.count - 1))
    let node = nodes[target]
    guard let raft = node.raft else { return }
    let applied = node.stateMachine.appliedIndex
    guard applied > raft.snapshotMetadata.index else { return }
    statistics.compactions += 1
    record(18, target, applied, "n\(target + 1) compacts through \(applied)")
    step(target, .compact(appliedIndex: applied, data: node.stateMachine.snapshotData))
  }

  // MARK: - Settling

  /// Ends the faulty phase: heal the network, restart every node, stop client traffic.
  func beginSettling() {
    isSettling = true
    healNetwork()
    for index in nodes.indices where !nodes[index].isUp { restart(index) }
    record(19, 0, 0, "settling")
  }

  /// True once a leader exists and every voter it knows has applied every acknowledged write
  /// and everything the leader committed.
  func isConverged() -> Bool {
    guard let leader = currentLeader, let raft = nodes[leader].raft else { return false }
    let target = max(checker.highestAcknowledgedIndex, raft.commitIndex)
    guard raft.commitIndex >= checker.highestAcknowledgedIndex else { return false }
    for voter in raft.membership.voters {
      let index = Int(voter.rawValue) - 1
      guard index >= 0, index < nodes.count, nodes[index].isUp,
        nodes[index].stateMachine.appliedIndex >= target
      else { return false }
    }
    return true
  }

  func convergenceReport() -> String {
    let leader = currentLeader.map { "n\($0 + 1)" } ?? "none"
    let applied = nodes.map { node in
      "\(node.id):\(node.raft?.role.rawValue ?? "down")/t\(node.raft?.term ?? 0)"
        + "/applied \(node.stateMachine.appliedIndex)/commit \(node.raft?.commitIndex ?? 0)"
    }
    return "leader \(leader), highest acknowledged index \(checker.highestAcknowledgedIndex), "
      + applied.joined(separator: ", ")
  }
}
