import CairnCore

/// What a file system operation can fail with. The FUSE adapter turns each code into one errno;
/// the message is for logs and `cairn status`.
public struct VFSError: Error, Sendable, CustomStringConvertible {
  public enum Code: Sendable, Equatable {
    case notFound, exists, notADirectory, isADirectory, notEmpty, readOnly, nameTooLong, invalid
    case notPermitted, noSpace, io, timedOut, notSupported, badHandle, stale, conflict, unavailable, busy
    /// A commit was queued (degraded mode): neither published nor failed.
    case queued
  }

  public var code: Code
  public var message: String
  public var details: [String]

  public init(_ code: Code, _ message: String, details: [String] = []) {
    self.code = code
    self.message = message
    self.details = details
  }

  public var description: String {
    details.isEmpty ? message : "\(message): \(details.prefix(20).joined(separator: ", "))"
  }

  /// Translates a client error (network, metadata, blocks) into a file system error.
  public init(_ error: CairnError) {
    let code: Code
    switch error.code {
    case .notFound: code = .notFound
    case .alreadyExists: code = .exists
    case .notADirectory: code = .notADirectory
    case .isADirectory: code = .isADirectory
    case .directoryNotEmpty: code = .notEmpty
    case .noSpace: code = .noSpace
    case .timeout: code = .timedOut
    case .invalidArgument, .tooLarge: code = .invalid
    case .permissionDenied: code = .notPermitted
    case .conflict: code = .conflict
    case .unavailable, .notLeader, .unknownOutcome: code = .unavailable
    case .corruptBlock, .missingBlocks, .ioError, .protocolError, .internalError: code = .io
    }
    self.init(code, error.message, details: error.details)
  }

  /// The CairnError a control client sees for this failure.
  public var cairnError: CairnError {
    let code: CairnError.Code
    switch self.code {
    case .notFound: code = .notFound
    case .exists: code = .alreadyExists
    case .conflict: code = .conflict
    case .timedOut: code = .timeout
    case .unavailable: code = .unavailable
    case .invalid, .nameTooLong: code = .invalidArgument
    case .noSpace: code = .noSpace
    case .notADirectory: code = .notADirectory
    case .isADirectory: code = .isADirectory
    case .notEmpty: code = .directoryNotEmpty
    case .notPermitted, .readOnly: code = .permissionDenied
    case .queued: code = .unavailable
    default: code = .ioError
    }
    return CairnError(code, message, details: details)
  }
}
