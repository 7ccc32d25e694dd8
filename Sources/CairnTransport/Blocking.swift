import CairnCore
import NIOPosix

/// Runs blocking work (fsync, RocksDB, hashing big buffers) on NIO's thread pool, never on an
/// event loop or the cooperative pool.
public enum Blocking {
  public static func run<T: Sendable>(_ body: @escaping @Sendable () throws(CairnError) -> T) async throws(CairnError) -> T {
    let result: Result<T, CairnError>
    do {
      result = try await NIOThreadPool.singleton.runIfActive { () -> Result<T, CairnError> in
        do throws(CairnError) { return .success(try body()) } catch { return .failure(error) }
      }
    } catch {
      throw CairnError(.unavailable, "the I/O thread pool is shutting down")
    }
    return try result.get()
  }
}
