import CairnVFS
import Glibc

/// The one place file system errors become errno values.
enum Errno {
  static func of(_ error: VFSError) -> Int32 {
    switch error.code {
    case .notFound: return ENOENT
    case .exists: return EEXIST
    case .notADirectory: return ENOTDIR
    case .isADirectory: return EISDIR
    case .notEmpty: return ENOTEMPTY
    case .readOnly: return EROFS
    case .nameTooLong: return ENAMETOOLONG
    case .invalid: return EINVAL
    case .notPermitted: return EPERM
    case .noSpace: return ENOSPC
    case .io: return EIO
    case .timedOut: return ETIMEDOUT
    case .notSupported: return ENOSYS
    case .badHandle: return EBADF
    case .stale: return ESTALE
    case .conflict: return EBUSY
    case .unavailable: return EIO
    case .busy: return EBUSY
    case .queued: return EINPROGRESS
    }
  }
}
