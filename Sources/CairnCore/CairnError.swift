/// The error every Cairn boundary speaks: a stable code (carried on the wire and mapped to exit
/// statuses and errno values) plus a message that names the problem for a user or operator.
public struct CairnError: Error, Hashable, Sendable, Codable, CustomStringConvertible {
  /// Stable error codes; raw values travel on the wire and must never be renumbered.
  public enum Code: UInt16, Sendable, Codable, CaseIterable {
    case invalidArgument = 1
    case notFound = 2
    case alreadyExists = 3
    case conflict = 4
    case notADirectory = 5
    case isADirectory = 6
    case directoryNotEmpty = 7
    case missingBlocks = 8
    case corruptBlock = 9
    case noSpace = 10
    case unavailable = 11
    case timeout = 12
    case protocolError = 13
    case notLeader = 14
    case internalError = 15
    case ioError = 16
    case permissionDenied = 17
    case unknownOutcome = 18
    case tooLarge = 19
  }

  public var code: Code
  public var message: String
  /// Extra structured detail: conflicting paths, a leader hint, missing block addresses.
  public var details: [String]

  public init(_ code: Code, _ message: String, details: [String] = []) {
    self.code = code
    self.message = message
    self.details = details
  }

  public var description: String {
    details.isEmpty ? message : "\(message): \(details.prefix(20).joined(separator: ", "))\(details.count > 20 ? ", … (\(details.count) in all)" : "")"
  }

  /// `error` itself if it is a `CairnError`, else an internal error describing it.
  public static func wrapping(_ error: any Error) -> CairnError {
    error as? CairnError ?? CairnError(.internalError, "\(error)")
  }

  public static func invalid(_ message: String) -> CairnError { CairnError(.invalidArgument, message) }
  public static func notFound(_ message: String) -> CairnError { CairnError(.notFound, message) }
}
