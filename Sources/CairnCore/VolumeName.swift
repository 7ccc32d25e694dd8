/// A validated volume name: `[a-z0-9][a-z0-9._-]{0,62}`.
public struct VolumeName: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
  public let rawValue: String

  public init(_ text: String) throws(CairnError) {
    let bytes = Array(text.utf8)
    guard !bytes.isEmpty else { throw .invalid("invalid volume name '': a name needs 1 to 63 characters") }
    guard bytes.count <= 63 else {
      throw .invalid("invalid volume name '\(text.prefix(70))…': longer than 63 characters")
    }
    func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
    guard isLowerAlnum(bytes[0]) else {
      throw .invalid("invalid volume name '\(text)': must start with a lowercase letter or digit")
    }
    for b in bytes.dropFirst() where !(isLowerAlnum(b) || b == 0x2E || b == 0x5F || b == 0x2D) {
      throw .invalid(
        "invalid volume name '\(text)': only lowercase letters, digits, '.', '_' and '-' are allowed")
    }
    rawValue = text
  }

  public init(from decoder: any Decoder) throws {
    let text = try decoder.singleValueContainer().decode(String.self)
    do { try self.init(text) } catch {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }

  public var description: String { rawValue }
  public static func < (a: VolumeName, b: VolumeName) -> Bool { a.rawValue < b.rawValue }
}
