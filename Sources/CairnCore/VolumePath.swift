/// A validated, normalized absolute path inside a volume: `/` or `/a/b`, no `.` or `..`
/// components, no empty components, each name at most `Limits.maxNameBytes` bytes.
public struct VolumePath: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
  /// The normalized text, always starting with `/` and never ending with one (except the root).
  public let rawValue: String

  public static let root = VolumePath(unchecked: "/")

  private init(unchecked: String) { rawValue = unchecked }

  /// Parses a user- or peer-supplied path. Relative paths are taken from the root; a trailing
  /// slash is ignored; `.` components are dropped; `..` is refused because a volume path can never
  /// leave the volume.
  public init(_ text: String) throws(CairnError) {
    guard text.utf8.count <= Limits.maxPathBytes else {
      throw .invalid("path is longer than \(Limits.maxPathBytes) bytes")
    }
    guard !text.utf8.contains(0) else { throw .invalid("path '\(text)' contains a NUL byte") }
    var parts: [Substring] = []
    for part in text.split(separator: "/", omittingEmptySubsequences: true) {
      if part == "." { continue }
      if part == ".." { throw .invalid("path '\(text)' escapes the volume ('..' is not allowed)") }
      guard part.utf8.count <= Limits.maxNameBytes else {
        throw .invalid("name '\(part.prefix(40))…' in path is longer than \(Limits.maxNameBytes) bytes")
      }
      parts.append(part)
    }
    guard parts.count <= Limits.maxPathDepth else {
      throw .invalid("path '\(text.prefix(60))…' is deeper than \(Limits.maxPathDepth) components")
    }
    rawValue = "/" + parts.joined(separator: "/")
  }

  public init(from decoder: any Decoder) throws {
    let text = try decoder.singleValueContainer().decode(String.self)
    do {
      try self.init(text)
    } catch {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
    }
    guard rawValue == text else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "path '\(text)' is not normalized"))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }

  public var isRoot: Bool { rawValue == "/" }

  /// The path's components, empty for the root.
  public var components: [Substring] { rawValue.split(separator: "/") }

  /// The last component, `""` for the root.
  public var name: String { isRoot ? "" : String(rawValue[rawValue.index(after: rawValue.lastIndex(of: "/")!)...]) }

  /// The parent directory; the root is its own parent.
  public var parent: VolumePath {
    guard let slash = rawValue.lastIndex(of: "/"), slash != rawValue.startIndex else { return .root }
    return VolumePath(unchecked: String(rawValue[..<slash]))
  }

  /// Appends a single validated name.
  public func appending(_ name: String) throws(CairnError) -> VolumePath {
    guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.utf8.contains(0) else {
      throw .invalid("invalid file name '\(name)'")
    }
    guard name.utf8.count <= Limits.maxNameBytes else {
      throw .invalid("name '\(name.prefix(40))…' is longer than \(Limits.maxNameBytes) bytes")
    }
    let joined = isRoot ? "/" + name : rawValue + "/" + name
    guard joined.utf8.count <= Limits.maxPathBytes else { throw .invalid("path is longer than \(Limits.maxPathBytes) bytes") }
    return VolumePath(unchecked: joined)
  }

  /// True when `self` is `other` or lies below it.
  public func isWithin(_ other: VolumePath) -> Bool {
    if other.isRoot || self == other { return true }
    return rawValue.hasPrefix(other.rawValue + "/")
  }

  /// Replaces the prefix `from` (which `self` must lie within) by `to`.
  public func rebased(from: VolumePath, to: VolumePath) throws(CairnError) -> VolumePath {
    precondition(isWithin(from), "rebased(from:to:) requires the path to lie within 'from'")
    if self == from { return to }
    let rest = from.isRoot ? String(rawValue.dropFirst()) : String(rawValue.dropFirst(from.rawValue.count + 1))
    return try VolumePath(to.isRoot ? "/" + rest : to.rawValue + "/" + rest)
  }

  public var description: String { rawValue }
  public static func < (a: VolumePath, b: VolumePath) -> Bool { a.rawValue < b.rawValue }
}
