import CairnCore
import Dispatch

/// Runs async client work from a FUSE worker thread (not a Swift concurrency thread) and waits
/// for it with a bound, so a stalled cluster turns into `ETIMEDOUT` instead of a hung process.
enum Bridge {
  private final class Box<T>: @unchecked Sendable {
    var result: Result<T, CairnError>?
  }

  static func wait<T>(
    timeoutSeconds: Double, _ what: String, _ body: @escaping @Sendable () async throws(CairnError) -> T
  ) throws(VFSError) -> T {
    let box = Box<T>()
    let done = DispatchSemaphore(value: 0)
    let task = Task {
      do throws(CairnError) {
        box.result = .success(try await body())
      } catch {
        box.result = .failure(error)
      }
      done.signal()
    }
    guard done.wait(timeout: .now() + timeoutSeconds) == .success else {
      task.cancel()
      throw VFSError(.timedOut, "\(what) did not finish within \(Int(timeoutSeconds)) s")
    }
    switch box.result {
    case .success(let value): return value
    case .failure(let error): throw VFSError(error)
    case nil: throw VFSError(.io, "\(what) finished without a result")
    }
  }
}
