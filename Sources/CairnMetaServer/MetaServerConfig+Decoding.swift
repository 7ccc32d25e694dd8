import CairnService

/// Decoding a config file: every key is optional, so one file (repair and GC settings, say) can be
/// shared by servers that get their data directory and address from flags. `cairn meta serve`
/// checks that a data directory was given by one or the other.
extension MetaServerConfig {
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    self.init(
      dataDir: try c.decodeIfPresent(String.self, forKey: .dataDir) ?? "",
      listen: try c.decodeIfPresent(String.self, forKey: .listen) ?? "127.0.0.1:7700",
      chunkDownAfterSeconds: try c.decodeNumberIfPresent(forKey: .chunkDownAfterSeconds),
      logLevel: try c.decodeIfPresent(String.self, forKey: .logLevel))
    id = try c.decodeIfPresent(UInt64.self, forKey: .id)
    peers = try c.decodeIfPresent(String.self, forKey: .peers)
    join = try c.decodeIfPresent(Bool.self, forKey: .join)
    electionTimeoutMillis = try c.decodeIfPresent(Int.self, forKey: .electionTimeoutMillis)
    repairGraceSeconds = try c.decodeNumberIfPresent(forKey: .repairGraceSeconds)
    repairBytesPerSecond = try c.decodeNumberIfPresent(forKey: .repairBytesPerSecond)
    repairConcurrency = try c.decodeIfPresent(Int.self, forKey: .repairConcurrency)
    repairIntervalSeconds = try c.decodeNumberIfPresent(forKey: .repairIntervalSeconds)
    gcGraceSeconds = try c.decodeNumberIfPresent(forKey: .gcGraceSeconds)
    gcIntervalSeconds = try c.decodeNumberIfPresent(forKey: .gcIntervalSeconds)
  }
}
