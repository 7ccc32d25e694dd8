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
  /// Lists only the directories at or after `after`'s prefix, so paging through a large store
  /// costs one pass over it, not one per page.
  public func inventory(after: BlockAddress?, limit: Int) throws(CairnError) -> [InventoryItem] {
    let root = directory + "/blocks"
    let start = Array((after?.hex ?? "").utf8)
    let outerStart = start.isEmpty ? "" : String(decoding: start[0..<2], as: UTF8.self)
    let innerStart = start.isEmpty ? "" : String(decoding: start[2..<4], as: UTF8.self)
    var out: [InventoryItem] = []
    for outer in try POSIX.listDirectory(root).sorted() where outer.utf8.count == 2 && outer >= outerStart {
      for inner in try POSIX.listDirectory(root + "/" + outer).sorted() where inner.utf8.count == 2 {
        guard outer > outerStart || inner >= innerStart else { continue }
        let names = try POSIX.listDirectory(root + "/" + outer + "/" + inner).sorted()
        for name in names {
          guard let address = try? BlockAddress(hex: name), address.hex == name, name.hasPrefix(outer + inner),
            after.map({ address > $0 }) ?? true
          else { continue }
          var info = stat()
          guard stat(path(for: address), &info) == 0 else { continue }  // deleted meanwhile
          out.append(
            InventoryItem(address: address, storedBytes: Int(info.st_size), modifiedUnixSeconds: Int(info.st_mtim.tv_sec)))
          if out.count >= limit { return out }
        }
      }
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
