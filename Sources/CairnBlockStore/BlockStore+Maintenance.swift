import CairnCore
import Glibc

/// Inventory with ages (for orphan collection) and quarantine clean-up (after repair).
extension BlockStore {
  /// A stored block with its on-disk size and the time its file was last written.
  public struct InventoryItem: Sendable, Equatable {
    public var address: BlockAddress
    public var storedBytes: Int
    public var modifiedUnixSeconds: Int
  }

  /// Up to `limit` stored blocks with addresses after `after` (nil: from the first), sorted.
  public func inventory(after: BlockAddress?, limit: Int) throws(CairnError) -> [InventoryItem] {
    var out: [InventoryItem] = []
    for address in try inventory() where after.map({ address > $0 }) ?? true {
      guard out.count < limit else { break }
      var info = stat()
      guard stat(path(for: address), &info) == 0 else { continue }  // deleted meanwhile
      out.append(
        InventoryItem(address: address, storedBytes: Int(info.st_size), modifiedUnixSeconds: Int(info.st_mtim.tv_sec)))
    }
    return out
  }

  /// Deletes every quarantined copy of `address`; returns how many files were removed.
  @discardableResult
  public func purgeQuarantine(_ address: BlockAddress) throws(CairnError) -> Int {
    let directory = self.directory + "/quarantine"
    var removed = 0
    for name in try POSIX.listDirectory(directory) where name.hasPrefix(address.hex + ".") {
      if unlink(directory + "/" + name) == 0 { removed += 1 }
    }
    return removed
  }

  /// The size of the stored file of `address`, if present (scrub rate limiting).
  public func storedSize(_ address: BlockAddress) -> Int? {
    (try? POSIX.fileSize(path(for: address))) ?? nil
  }
}
