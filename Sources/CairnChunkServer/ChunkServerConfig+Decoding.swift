import CairnService

/// Decoding a config file: every key is optional, so one file (scrub settings, say) can be shared
/// by servers that get their data directory, address and metadata servers from flags.
/// `cairn chunk serve` checks that they were given by one or the other.
extension ChunkServerConfig {
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    self.init(
      dataDir: try c.decodeIfPresent(String.self, forKey: .dataDir) ?? "",
      listen: try c.decodeIfPresent(String.self, forKey: .listen) ?? "127.0.0.1:7800",
      meta: try c.decodeIfPresent(String.self, forKey: .meta) ?? "",
      advertise: try c.decodeIfPresent(String.self, forKey: .advertise),
      zone: try c.decodeIfPresent(String.self, forKey: .zone),
      heartbeatSeconds: try c.decodeNumberIfPresent(forKey: .heartbeatSeconds),
      logLevel: try c.decodeIfPresent(String.self, forKey: .logLevel))
    scrubBytesPerSecond = try c.decodeNumberIfPresent(forKey: .scrubBytesPerSecond)
    scrubPauseSeconds = try c.decodeNumberIfPresent(forKey: .scrubPauseSeconds)
  }
}
