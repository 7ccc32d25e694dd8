import CairnCore
import Foundation

/// A node's own filesystem: XFS in a sparse image on a loop device, mounted on its data
/// directory. Lets the harness fill the disk and cut the power: `xfs_io -x -c shutdown` stops the
/// filesystem without flushing its log, so every write not yet synced is lost, as in a power cut.
final class NodeDisk: @unchecked Sendable {
  let image: String
  let mountpoint: String
  /// Image size: mkfs.xfs needs at least 300 MiB.
  static let sizeBytes = 320 << 20
  var fillerPath: String { mountpoint + "/.chaos-filler" }

  init(image: String, mountpoint: String) {
    self.image = image
    self.mountpoint = mountpoint
  }

  func create() throws(CairnError) {
    guard getuid() == 0 else {
      throw CairnError(.permissionDenied, "power-cut and disk-full faults need root (loop-mounted XFS data directories)")
    }
    try check(ChaosProcess.run("/usr/bin/truncate", ["-s", "\(Self.sizeBytes)", image]), "create \(image)")
    try check(ChaosProcess.run("/usr/sbin/mkfs.xfs", ["-q", "-f", image]), "mkfs.xfs \(image)")
    try mount()
  }

  func mount() throws(CairnError) {
    try check(ChaosProcess.run("/usr/bin/mount", ["-o", "loop", image, mountpoint]), "mount \(image)")
  }

  /// Power cut: the filesystem stops without flushing; the caller kills the process.
  func cutPower() throws(CairnError) {
    try check(ChaosProcess.run("/usr/sbin/xfs_io", ["-x", "-c", "shutdown", mountpoint]), "xfs_io shutdown \(mountpoint)")
  }

  /// After a power cut: unmount and mount again (XFS replays its log: synced data comes back).
  func restorePower() throws(CairnError) {
    unmount()
    try mount()
  }

  /// Fills the disk, leaving `leaveBytes` free.
  func fill(leaveBytes: Int = 64 << 10) throws(CairnError) {
    var st = statvfs()
    guard statvfs(mountpoint, &st) == 0 else { throw CairnError(.ioError, "statvfs \(mountpoint) failed") }
    let free = Int(st.f_bavail) * Int(st.f_frsize)
    let size = max(0, free - leaveBytes)
    try check(ChaosProcess.run("/usr/bin/fallocate", ["-l", "\(size)", fillerPath]), "fallocate \(fillerPath)")
  }

  func free() { try? FileManager.default.removeItem(atPath: fillerPath) }

  func unmount() {
    if ChaosProcess.run("/usr/bin/umount", [mountpoint]).status != 0 {
      ChaosProcess.run("/usr/bin/umount", ["-l", mountpoint])
    }
  }

  func destroy() {
    unmount()
    try? FileManager.default.removeItem(atPath: image)
  }

  private func check(_ result: (status: Int32, output: String), _ what: String) throws(CairnError) {
    guard result.status == 0 else {
      throw CairnError(.ioError, "\(what) failed (status \(result.status)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
  }
}
