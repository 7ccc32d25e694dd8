import CFuse3
import CairnVFS
import Foundation
import Logging

/// A FUSE session serving a `VolumeFS` at a mountpoint with libfuse3's multithreaded loop.
public final class FUSEMount: @unchecked Sendable {
  public let mountpoint: String
  let fs: VolumeFS
  let logger: Logger
  private var session: OpaquePointer?
  /// Set once `stop` has unmounted the path itself: libfuse must then not unmount it again (a new
  /// mount may already sit on the same path after a lazy unmount).
  private var isUnmountedByStop = false
  private let context: FUSEContext
  private let lock = NSLock()

  public init(fs: VolumeFS, mountpoint: String, logger: Logger) {
    self.fs = fs
    self.mountpoint = mountpoint
    self.logger = logger
    context = FUSEContext(fs: fs)
  }

  /// Mounts (options: `fsname`, `allow_other`, `default_permissions`, `ro`) and serves requests until
  /// the file system is unmounted. Returns the loop's status.
  public func run(fsName: String, isReadOnly: Bool, maxIdleThreads: UInt32 = 16) throws(VFSError) -> Int32 {
    var options = "fsname=\(fsName),subtype=cairn,default_permissions,allow_other,max_read=1048576"
    if isReadOnly { options += ",ro" }
    let argv = ["cairn", "-o", options]
    var cStrings = argv.map { strdup($0) }
    defer { for p in cStrings { free(p) } }
    var ops = FUSEOperations.make()
    let se: OpaquePointer? = cStrings.withUnsafeMutableBufferPointer { buffer in
      var args = fuse_args(argc: Int32(argv.count), argv: buffer.baseAddress, allocated: 0)
      return fuse_session_new(
        &args, &ops, MemoryLayout<fuse_lowlevel_ops>.size, Unmanaged.passUnretained(context).toOpaque())
    }
    guard let se else { throw VFSError(.invalid, "libfuse rejected the mount options '\(options)'") }
    guard fuse_session_mount(se, mountpoint) == 0 else {
      fuse_session_destroy(se)
      throw VFSError(.io, "cannot mount at '\(mountpoint)' (is /dev/fuse available, and the directory present?)")
    }
    lock.lock()
    session = se
    lock.unlock()
    logger.info("mounted", metadata: ["mountpoint": "\(mountpoint)"])
    let status = cairn_fuse_session_loop_mt(se, 0, maxIdleThreads)
    lock.lock()
    session = nil
    let skipUnmount = isUnmountedByStop
    lock.unlock()
    if !skipUnmount { fuse_session_unmount(se) }
    fuse_session_destroy(se)
    withExtendedLifetime(context) {}
    logger.info("unmounted", metadata: ["mountpoint": "\(mountpoint)"])
    return status
  }

  /// Ends the session: unmounts the file system (lazily when it is busy) so the loop returns.
  public func stop() {
    lock.lock()
    let se = session
    lock.unlock()
    if let se { fuse_session_exit(se) }
    let unmounted = umount2(mountpoint, 0) == 0 || umount2(mountpoint, Int32(MNT_DETACH)) == 0
    lock.lock()
    if unmounted { isUnmountedByStop = true }
    lock.unlock()
  }
}
