/// A Raft term: a logical clock that increases with every election.
public typealias Term = UInt64

/// The position of an entry in the replicated log; the first entry has index 1.
public typealias LogIndex = UInt64

/// The identity of one member of a Raft group. Zero is reserved for "none".
public struct NodeID: Hashable, Comparable, Codable, Sendable, ExpressibleByIntegerLiteral,
  CustomStringConvertible
{
  /// The raw identifier, unique within the group.
  public var rawValue: UInt64

  /// Wraps a raw identifier; zero means "no node".
  public init(_ rawValue: UInt64) { self.rawValue = rawValue }

  /// Allows `let id: NodeID = 3` in tests and configuration.
  public init(integerLiteral value: UInt64) { self.rawValue = value }

  /// The reserved "no node" value (no vote cast, no known leader).
  public static let none = NodeID(0)

  /// Orders ids numerically, so that sorted member lists are deterministic.
  public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.rawValue < rhs.rawValue }

  /// "n" followed by the raw id, as in traces.
  public var description: String { "n\(rawValue)" }
}
