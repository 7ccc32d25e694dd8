import CFuse3
import CairnCore
import CairnVFS
import Glibc
import Logging

/// The low-level callbacks: each decodes its arguments, calls the VFS and replies. They run on
/// libfuse's worker threads; the VFS bounds every wait on the network.
enum FUSEOperations {
  /// Kernel cache lifetime of attributes and names. Zero: a reload is seen at once (names and
  /// attributes always come from the mount's current tree).
  static let cacheTimeoutSeconds = 0.0

  static func fs(_ req: fuse_req_t?) -> VolumeFS {
    Unmanaged<FUSEContext>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue().fs
  }

  static func caller(_ req: fuse_req_t?) -> Caller {
    guard let ctx = fuse_req_ctx(req) else { return Caller(uid: 0, gid: 0) }
    return Caller(uid: ctx.pointee.uid, gid: ctx.pointee.gid)
  }

  static func name(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }

  static func stat(_ a: NodeAttributes) -> stat {
    var st = Glibc.stat()
    st.st_ino = UInt(a.inode)
    st.st_mode = a.mode
    st.st_nlink = UInt(a.linkCount)
    st.st_uid = a.uid
    st.st_gid = a.gid
    st.st_size = Int(a.sizeBytes)
    st.st_blksize = 4096
    st.st_blocks = Int((a.sizeBytes + 511) / 512)
    let m = timespec(tv_sec: Int(a.mtimeNanos / 1_000_000_000), tv_nsec: Int(a.mtimeNanos % 1_000_000_000))
    let c = timespec(tv_sec: Int(a.ctimeNanos / 1_000_000_000), tv_nsec: Int(a.ctimeNanos % 1_000_000_000))
    st.st_mtim = m
    st.st_atim = m
    st.st_ctim = c
    return st
  }

  static func entry(_ a: NodeAttributes) -> fuse_entry_param {
    var e = fuse_entry_param()
    e.ino = a.inode
    e.generation = 1
    e.attr = stat(a)
    e.attr_timeout = cacheTimeoutSeconds
    e.entry_timeout = cacheTimeoutSeconds
    return e
  }

  static func fail(_ req: fuse_req_t?, _ error: VFSError) {
    fuse_reply_err(req, Errno.of(error))
  }

  static func replyEntry(_ req: fuse_req_t?, _ body: () throws(VFSError) -> NodeAttributes) {
    do throws(VFSError) {
      var e = entry(try body())
      fuse_reply_entry(req, &e)
    } catch { fail(req, error) }
  }

  static func replyOK(_ req: fuse_req_t?, _ body: () throws(VFSError) -> Void) {
    do throws(VFSError) {
      try body()
      fuse_reply_err(req, 0)
    } catch { fail(req, error) }
  }

  static func make() -> fuse_lowlevel_ops {
    var ops = fuse_lowlevel_ops()
    ops.`init` = { userdata, conn in
      guard let conn else { return }
      conn.pointee.max_write = 1 << 20
      conn.pointee.max_read = 1 << 20
      conn.pointee.max_readahead = 1 << 20
      conn.pointee.want &= ~UInt32(1 << 12)  // FUSE_CAP_AUTO_INVAL_DATA: invalidate only on open
      conn.pointee.max_background = 64
    }
    ops.lookup = { req, parent, name in
      FUSEOperations.replyEntry(req) { () throws(VFSError) in try FUSEOperations.fs(req).lookup(parent: parent, name: FUSEOperations.name(name)) }
    }
    ops.forget = { req, ino, n in
      FUSEOperations.fs(req).forget(ino, count: n)
      fuse_reply_none(req)
    }
    ops.forget_multi = { req, count, forgets in
      let f = FUSEOperations.fs(req)
      if let forgets { for i in 0..<count { f.forget(forgets[i].ino, count: forgets[i].nlookup) } }
      fuse_reply_none(req)
    }
    ops.getattr = { req, ino, _ in
      do throws(VFSError) {
        var st = FUSEOperations.stat(try FUSEOperations.fs(req).getattr(ino))
        fuse_reply_attr(req, &st, FUSEOperations.cacheTimeoutSeconds)
      } catch { FUSEOperations.fail(req, error) }
    }
    ops.setattr = { req, ino, attr, toSet, _ in
      guard let attr else {
        _ = fuse_reply_err(req, EINVAL)
        return
      }
      var changes = AttributeChanges()
      if toSet & (1 << 0) != 0 { changes.mode = attr.pointee.st_mode }
      if toSet & (1 << 1) != 0 { changes.uid = attr.pointee.st_uid }
      if toSet & (1 << 2) != 0 { changes.gid = attr.pointee.st_gid }
      if toSet & (1 << 3) != 0 { changes.sizeBytes = UInt64(max(0, attr.pointee.st_size)) }
      if toSet & (1 << 5) != 0 {
        changes.mtimeNanos = Int64(attr.pointee.st_mtim.tv_sec) * 1_000_000_000 + Int64(attr.pointee.st_mtim.tv_nsec)
      }
      if toSet & (1 << 8) != 0 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        changes.mtimeNanos = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
      }
      do throws(VFSError) {
        var st = FUSEOperations.stat(try FUSEOperations.fs(req).setattr(ino, changes))
        fuse_reply_attr(req, &st, FUSEOperations.cacheTimeoutSeconds)
      } catch { FUSEOperations.fail(req, error) }
    }
    ops.readlink = { req, ino in
      do throws(VFSError) {
        let target = try FUSEOperations.fs(req).readlink(ino)
        fuse_reply_readlink(req, target)
      } catch { FUSEOperations.fail(req, error) }
    }
    ops.mknod = { req, parent, name, mode, _ in
      guard mode & 0o170000 == 0o100000 else {
        _ = fuse_reply_err(req, EPERM)
        return
      }
      do throws(VFSError) {
        let f = FUSEOperations.fs(req)
        let (a, handle) = try f.create(parent: parent, name: FUSEOperations.name(name), mode: mode, flags: O_EXCL, caller: FUSEOperations.caller(req))
        f.release(handle)
        var e = FUSEOperations.entry(a)
        fuse_reply_entry(req, &e)
      } catch { FUSEOperations.fail(req, error) }
    }
    ops.mkdir = { req, parent, name, mode in
      FUSEOperations.replyEntry(req) { () throws(VFSError) in
        try FUSEOperations.fs(req).mkdir(parent: parent, name: FUSEOperations.name(name), mode: mode, caller: FUSEOperations.caller(req))
      }
    }
    ops.unlink = { req, parent, name in
      FUSEOperations.replyOK(req) { () throws(VFSError) in try FUSEOperations.fs(req).unlink(parent: parent, name: FUSEOperations.name(name)) }
    }
    ops.rmdir = { req, parent, name in
      FUSEOperations.replyOK(req) { () throws(VFSError) in try FUSEOperations.fs(req).rmdir(parent: parent, name: FUSEOperations.name(name)) }
    }
    ops.symlink = { req, link, parent, name in
      FUSEOperations.replyEntry(req) { () throws(VFSError) in
        try FUSEOperations.fs(req).symlink(parent: parent, name: FUSEOperations.name(name), target: FUSEOperations.name(link), caller: FUSEOperations.caller(req))
      }
    }
    ops.rename = { req, parent, name, newParent, newName, flags in
      FUSEOperations.replyOK(req) { () throws(VFSError) in
        try FUSEOperations.fs(req).rename(
          parent: parent, name: FUSEOperations.name(name), newParent: newParent, newName: FUSEOperations.name(newName),
          flags: RenameFlags(rawValue: flags))
      }
    }
    ops.link = { req, _, _, _ in _ = fuse_reply_err(req, EPERM) }
    ops.open = { req, ino, fi in
      guard let fi else {
        _ = fuse_reply_err(req, EINVAL)
        return
      }
      do throws(VFSError) {
        fi.pointee.fh = try FUSEOperations.fs(req).open(ino, flags: fi.pointee.flags)
        // The control file has no fixed size: read it past its reported length.
        if VolumeFS.isControlFile(ino) { fi.pointee.direct_io = 1 }
        fuse_reply_open(req, fi)
      } catch { FUSEOperations.fail(req, error) }
    }
    ops.create = { req, parent, name, mode, fi in
      guard let fi else {
        _ = fuse_reply_err(req, EINVAL)
        return
      }
      do throws(VFSError) {
        let (a, handle) = try FUSEOperations.fs(req).create(
          parent: parent, name: FUSEOperations.name(name), mode: mode, flags: fi.pointee.flags, caller: FUSEOperations.caller(req))
        fi.pointee.fh = handle
        var e = FUSEOperations.entry(a)
        fuse_reply_create(req, &e, fi)
      } catch { FUSEOperations.fail(req, error) }
    }
    ops.read = { req, _, size, offset, fi in
      guard let fi else {
        _ = fuse_reply_err(req, EINVAL)
        return
      }
      do throws(VFSError) {
        let bytes = try FUSEOperations.fs(req).read(handle: fi.pointee.fh, offset: UInt64(max(0, offset)), count: size)
        bytes.withUnsafeBytes { raw in _ = fuse_reply_buf(req, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count) }
      } catch { FUSEOperations.fail(req, error) }
    }
    ops.write = { req, _, buf, size, offset, fi in
      guard let fi else {
        _ = fuse_reply_err(req, EINVAL)
        return
      }
      do throws(VFSError) {
        let data = UnsafeRawBufferPointer(start: buf, count: size)
        let n = try FUSEOperations.fs(req).write(handle: fi.pointee.fh, offset: UInt64(max(0, offset)), data: data)
        fuse_reply_write(req, n)
      } catch { FUSEOperations.fail(req, error) }
    }
    ops.flush = { req, _, _ in _ = fuse_reply_err(req, 0) }
    ops.fsync = { req, _, _, fi in
      FUSEOperations.replyOK(req) { () throws(VFSError) in if let fi { try FUSEOperations.fs(req).fsync(fi.pointee.fh) } }
    }
    ops.release = { req, _, fi in
      if let fi { FUSEOperations.fs(req).release(fi.pointee.fh) }
      fuse_reply_err(req, 0)
    }
    ops.opendir = { req, ino, fi in
      guard let fi else {
        _ = fuse_reply_err(req, EINVAL)
        return
      }
      do throws(VFSError) {
        fi.pointee.fh = try FUSEOperations.fs(req).opendir(ino)
        fuse_reply_open(req, fi)
      } catch { FUSEOperations.fail(req, error) }
    }
    ops.readdir = { req, _, size, offset, fi in FUSEOperations.readdir(req, size: size, offset: offset, fi: fi, plus: false) }
    ops.readdirplus = { req, _, size, offset, fi in FUSEOperations.readdir(req, size: size, offset: offset, fi: fi, plus: true) }
    ops.releasedir = { req, _, fi in
      if let fi { FUSEOperations.fs(req).releasedir(fi.pointee.fh) }
      fuse_reply_err(req, 0)
    }
    ops.fsyncdir = { req, _, _, _ in _ = fuse_reply_err(req, 0) }
    ops.statfs = { req, _ in
      let s = FUSEOperations.fs(req).statfs()
      var v = statvfs()
      v.f_bsize = UInt(s.blockBytes)
      v.f_frsize = UInt(s.blockBytes)
      v.f_blocks = UInt(s.totalBlocks)
      v.f_bfree = UInt(s.freeBlocks)
      v.f_bavail = UInt(s.freeBlocks)
      v.f_files = UInt(s.files)
      v.f_ffree = UInt(s.freeFiles)
      v.f_favail = UInt(s.freeFiles)
      v.f_namemax = UInt(Limits.maxNameBytes)
      fuse_reply_statfs(req, &v)
    }
    return ops
  }

  static func readdir(_ req: fuse_req_t?, size: Int, offset: Int, fi: UnsafeMutablePointer<fuse_file_info>?, plus: Bool) {
    guard let fi else {
      _ = fuse_reply_err(req, EINVAL)
      return
    }
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
    defer { buffer.deallocate() }
    var used = 0
    do throws(VFSError) {
      try fs(req).readdir(handle: fi.pointee.fh, offset: offset, plus: plus) { item in
        let n: Int
        if plus {
          var e = entry(item.attributes)
          if item.name == "." || item.name == ".." { e.ino = item.attributes.inode }
          n = fuse_add_direntry_plus(req, buffer + used, size - used, item.name, &e, off_t(item.nextOffset))
        } else {
          var st = stat(item.attributes)
          n = fuse_add_direntry(req, buffer + used, size - used, item.name, &st, off_t(item.nextOffset))
        }
        guard n <= size - used else { return false }
        used += n
        return true
      }
      fuse_reply_buf(req, buffer, used)
    } catch { fail(req, error) }
  }
}

/// What the callbacks reach through `fuse_req_userdata`.
final class FUSEContext {
  let fs: VolumeFS
  init(fs: VolumeFS) { self.fs = fs }
}
