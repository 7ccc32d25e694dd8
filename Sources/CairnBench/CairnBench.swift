import ArgumentParser
import CairnClient
import CairnCore
import CairnService
import CairnTransport
import Foundation

/// `cairn-bench`: load generators for the benchmarks in `benchmarks/`. Each prints one line of
/// `key=value` results (ops/s, p50, p99 in milliseconds) that the scripts turn into ratios.
@main
struct CairnBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cairn-bench",
    abstract: "Load generators for Cairn's benchmarks (commit throughput, etcd puts).",
    subcommands: [Commits.self, EtcdPuts.self])
}

/// Latencies of one run, and what they summarise to.
struct LatencyReport {
  var latenciesNanos: [UInt64]
  var failures: Int
  var seconds: Double

  func line(_ label: String, concurrency: Int) -> String {
    let sorted = latenciesNanos.sorted()
    func pct(_ p: Double) -> Double {
      guard !sorted.isEmpty else { return 0 }
      let i = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
      return Double(sorted[max(0, i)]) / 1e6
    }
    let rate = Double(sorted.count) / seconds
    return String(
      format: "%@ concurrency=%d ops=%d failures=%d ops_per_s=%.1f p50_ms=%.2f p99_ms=%.2f", label, concurrency,
      sorted.count, failures, rate, pct(0.50), pct(0.99))
  }
}

struct Commits: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Commit small metadata-only changes (an empty file each) from N concurrent committers.")

  @Option(help: "Metadata servers, comma-separated HOST:PORT.") var meta: String
  @Option(help: "Concurrent committers.") var concurrency: Int = 1
  @Option(help: "Seconds to run.") var seconds: Double = 10
  @Option(help: "Volume to commit into (created when missing).") var volume: String = "bench-commits"

  func validate() throws {
    guard concurrency >= 1, concurrency <= 4096 else { throw ValidationError("--concurrency must be 1...4096") }
    guard seconds > 0, seconds <= 3600 else { throw ValidationError("--seconds must be in (0, 3600]") }
  }

  func run() async throws {
    let addresses = try meta.split(separator: ",").map { try ServerAddress(parsing: String($0)) }
    let client = CairnClient(metaAddresses: addresses, author: "cairn-bench")
    let name = try VolumeName(volume)
    do {
      _ = try await client.createVolume(name)
    } catch {
      guard error.code == .alreadyExists else { throw error }
    }
    let deadline = monotonicNanos() + UInt64(seconds * 1e9)
    let started = monotonicNanos()
    let workers = concurrency
    let results = await withTaskGroup(of: ([UInt64], Int).self) { group in
      for worker in 0..<workers {
        group.addTask { await Self.commitLoop(client: client, volume: name, worker: worker, deadline: deadline) }
      }
      var all: ([UInt64], Int) = ([], 0)
      for await r in group {
        all.0 += r.0
        all.1 += r.1
      }
      return all
    }
    let elapsed = Double(monotonicNanos() - started) / 1e9
    await client.close()
    let report = LatencyReport(latenciesNanos: results.0, failures: results.1, seconds: elapsed)
    FileHandle.standardOutput.write(Data((report.line("cairn-commit", concurrency: concurrency) + "\n").utf8))
  }
}

extension Commits {
  /// One committer: commits until the deadline; returns its latencies and failure count.
  static func commitLoop(client: CairnClient, volume: VolumeName, worker: Int, deadline: UInt64) async -> ([UInt64], Int) {
    var latencies: [UInt64] = []
    var failures = 0
    var i = 0
    while monotonicNanos() < deadline {
      i += 1
      guard let path = try? VolumePath("/w\(worker)/f\(i)") else { return (latencies, failures + 1) }
      let change = Change.put(path, .file(Manifest(), Attributes(mode: 0o100644, mtimeNanos: 0)))
      let t0 = monotonicNanos()
      if (try? await client.commit(volume, changes: [change], baseVersion: 0, mode: .merge)) != nil {
        latencies.append(monotonicNanos() - t0)
      } else {
        failures += 1
      }
    }
    return (latencies, failures)
  }
}

struct EtcdPuts: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "etcd-puts",
    abstract: "Put small keys into etcd through its v3 JSON gateway from N concurrent clients.")

  @Option(help: "etcd client endpoints, comma-separated HOST:PORT (requests go round-robin).") var endpoints: String
  @Option(help: "Concurrent clients (one keep-alive connection each).") var concurrency: Int = 1
  @Option(help: "Seconds to run.") var seconds: Double = 10

  func validate() throws {
    guard concurrency >= 1, concurrency <= 4096 else { throw ValidationError("--concurrency must be 1...4096") }
  }

  func run() throws {
    let targets = try endpoints.split(separator: ",").map { try ServerAddress(parsing: String($0)) }
    let deadline = monotonicNanos() + UInt64(seconds * 1e9)
    let started = monotonicNanos()
    let results = Results()
    let group = DispatchGroup()
    for worker in 0..<concurrency {
      group.enter()
      let target = targets[worker % targets.count]
      Thread.detachNewThread {
        var mine: [UInt64] = []
        var failed = 0
        var connection = HTTPConnection(host: target.host, port: Int(target.port))
        var i = 0
        while monotonicNanos() < deadline {
          let key = Data("bench/w\(worker)/k\(i)".utf8).base64EncodedString()
          let body = "{\"key\":\"\(key)\",\"value\":\"\(Data("x".utf8).base64EncodedString())\"}"
          let t0 = monotonicNanos()
          if connection.post("/v3/kv/put", body: body) { mine.append(monotonicNanos() - t0) } else {
            failed += 1
            connection = HTTPConnection(host: target.host, port: Int(target.port))
          }
          i += 1
        }
        connection.close()
        results.add(mine, failed)
        group.leave()
      }
    }
    group.wait()
    let elapsed = Double(monotonicNanos() - started) / 1e9
    let report = LatencyReport(latenciesNanos: results.all, failures: results.failures, seconds: elapsed)
    FileHandle.standardOutput.write(Data((report.line("etcd-put", concurrency: concurrency) + "\n").utf8))
  }
}

/// What the etcd worker threads gathered, under a lock.
final class Results: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var all: [UInt64] = []
  private(set) var failures = 0

  func add(_ latencies: [UInt64], _ failed: Int) {
    lock.lock()
    defer { lock.unlock() }
    all += latencies
    failures += failed
  }
}
