import CairnCore
import Foundation
import TOMLKit

/// Loads TOML config files into `Decodable` structs with errors that name the file and the key.
public enum ConfigLoader {
  /// Parses `path`; unknown top-level keys are refused (a typo must not silently fall back to a
  /// default).
  public static func load<T: Decodable>(_ type: T.Type, from path: String, allowedKeys: Set<String>) throws(CairnError) -> T {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw CairnError(.invalidArgument, "cannot read config file '\(path)': \(error.localizedDescription)")
    }
    return try parse(type, text: text, source: path, allowedKeys: allowedKeys)
  }

  public static func parse<T: Decodable>(_ type: T.Type, text: String, source: String, allowedKeys: Set<String>)
    throws(CairnError) -> T
  {
    let table: TOMLTable
    do {
      table = try TOMLTable(string: text)
    } catch let error as TOMLParseError {
      throw CairnError(
        .invalidArgument,
        "invalid config file '\(source)': line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
    } catch {
      throw CairnError(.invalidArgument, "invalid config file '\(source)': \(error)")
    }
    let unknown = Set(table.keys).subtracting(allowedKeys)
    if !unknown.isEmpty {
      throw CairnError(
        .invalidArgument,
        "config file '\(source)' has unknown keys: \(unknown.sorted().joined(separator: ", ")) (known: \(allowedKeys.sorted().joined(separator: ", ")))")
    }
    do {
      return try TOMLDecoder().decode(T.self, from: table)
    } catch let DecodingError.typeMismatch(_, context) {
      throw CairnError(
        .invalidArgument, "config file '\(source)': key '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
    } catch {
      throw CairnError(.invalidArgument, "config file '\(source)': \(error)")
    }
  }
}
