import CairnBlockStore
import CairnCore
import CairnTransport
import CairnService
import Logging

/// Re-hashes every stored block in the background at a bounded rate, so bit rot is found before a
/// reader needs the copy. Corrupt copies are quarantined by the store (moved aside, not deleted)
/// and reported to the metadata service, which repairs the block from a good copy and only then
/// has the quarantined file deleted.
struct Scrubber {
  let store: BlockStore
  let reports: BadBlockReports
  /// Bytes re-read per second at most.
  let bytesPerSecond: Double
  /// Pause between two full passes.
  let pauseSeconds: Double
  let logger: Logger

  func run() async {
    var limiter = ByteRateLimiter(bytesPerSecond: bytesPerSecond, burstBytes: max(bytesPerSecond, Double(Limits.maxBlockBytes)))
    while !Task.isCancelled {
      var after: BlockAddress?
      var checked = 0
      var corrupt = 0
      while !Task.isCancelled {
        let store = self.store
        let start = after
        guard let page = try? await Blocking.run({ () throws(CairnError) -> [BlockStore.InventoryItem] in
          try store.inventory(after: start, limit: 256)
        }), !page.isEmpty else { break }
        for item in page where !Task.isCancelled {
          let wait = limiter.take(item.storedBytes, nowNanos: monotonicNanos())
          if wait > 0 { try? await Task.sleep(for: .nanoseconds(Int(wait))) }
          let address = item.address
          let result = try? await Blocking.run { () throws(CairnError) -> BlockStore.ScrubResult in try store.scrub(address) }
          checked += 1
          switch result {
          case .quarantined(let error):
            corrupt += 1
            logger.error("scrub found a corrupt block", metadata: ["block": "\(address.hex)", "error": "\(error)"])
            reports.add(address)
          case nil:
            logger.error("scrub could not read a block", metadata: ["block": "\(address.hex)"])
            reports.add(address)
          case .healthy, .missing:
            break
          }
        }
        after = page.last?.address
      }
      logger.debug("scrub pass done", metadata: ["checked": "\(checked)", "corrupt": "\(corrupt)"])
      try? await Task.sleep(for: .milliseconds(Int(pauseSeconds * 1000)))
    }
  }
}
