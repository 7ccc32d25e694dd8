import ArgumentParser
import CairnClient
import CairnCore
import CairnService
import CairnTransport
import Foundation

/// `--meta`, else `CAIRN_META`, else the client config written by `cairn dev up`
/// (`./.cairn/client.toml`, then `~/.config/cairn/client.toml`).
struct ClientOptions: ParsableArguments {
  @Option(name: .long, help: "Metadata server(s), HOST:PORT[,HOST:PORT…] (default: $CAIRN_META or the dev cluster's config).")
  var meta: String?

  @Option(name: .long, help: "Seconds to wait for the metadata service before giving up.")
  var timeout: Double = 10

  func validate() throws {
    guard timeout > 0 && timeout <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
    if let meta { _ = try parseAddresses(meta, source: "--meta") }
  }

  func parseAddresses(_ text: String, source: String) throws(CairnError) -> [ServerAddress] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !parts.isEmpty else { throw .invalid("\(source) names no metadata server") }
    var out: [ServerAddress] = []
    for part in parts {
      do {
        out.append(try ServerAddress(parsing: part))
      } catch {
        throw .invalid("\(source): \(error.message)")
      }
    }
    return out
  }

  func resolveAddresses() throws(CairnError) -> [ServerAddress] {
    if let meta { return try parseAddresses(meta, source: "--meta") }
    if let env = ProcessInfo.processInfo.environment["CAIRN_META"], !env.isEmpty {
      return try parseAddresses(env, source: "CAIRN_META")
    }
    for path in ClientConfig.searchPaths() where FileManager.default.fileExists(atPath: path) {
      let config = try ConfigLoader.load(ClientConfig.self, from: path, allowedKeys: ClientConfig.keys)
      return try parseAddresses(config.meta, source: path)
    }
    throw .invalid(
      "no metadata server given: pass --meta HOST:PORT, set CAIRN_META, or start a local cluster with 'cairn dev up'")
  }

  /// A client; `CAIRN_HEDGED_READS=0` turns hedged reads off (for benchmarks).
  func makeClient() throws(CairnError) -> CairnClient {
    CairnClient(
      metaAddresses: try resolveAddresses(), timeout: .milliseconds(Int(timeout * 1000)),
      hedgedReads: ProcessInfo.processInfo.environment["CAIRN_HEDGED_READS"] != "0")
  }
}

/// The client config file.
struct ClientConfig: Codable {
  var meta: String
  static let keys: Set<String> = ["meta"]

  static func searchPaths() -> [String] {
    var paths = [FileManager.default.currentDirectoryPath + "/.cairn/client.toml"]
    paths.append(userConfigPath())
    return paths
  }

  static func userConfigPath() -> String {
    let env = ProcessInfo.processInfo.environment
    let base = env["XDG_CONFIG_HOME"] ?? ((env["HOME"] ?? NSHomeDirectory()) + "/.config")
    return base + "/cairn/client.toml"
  }
}

/// Parses a volume name argument, with a clean validation error.
func volumeName(_ text: String) throws -> VolumeName {
  do { return try VolumeName(text) } catch { throw ValidationError(error.message) }
}

func volumePath(_ text: String) throws -> VolumePath {
  do { return try VolumePath(text) } catch { throw ValidationError(error.message) }
}
