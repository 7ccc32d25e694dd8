import CairnCore
import CairnKV
import CairnRaft
import Foundation
import NIOPosix

/// A synced Raft log write done on NIO's thread pool while the Raft loop applies committed
/// entries on its own thread: the fsync (I/O wait) and the applies (CPU) overlap. The messages
/// that depend on the write are sent by the writing thread as soon as it returns, so a follower's
/// acknowledgements never wait for its applies. `wait()` blocks the caller (the loop's dedicated
/// thread) until both are done.
final class BackgroundWrite: @unchecked Sendable {
  private let done = DispatchSemaphore(value: 0)
  private var failure: CairnError?  // written before `done` is signalled, read after

  init(
    store: any KVStore, batch: WriteBatch, sync: Bool, then messages: [Message],
    send: @escaping @Sendable ([Message]) -> Void
  ) {
    NIOThreadPool.singleton.submit { [self] state in
      if case .cancelled = state {
        failure = CairnError(.unavailable, "the I/O thread pool is shutting down")
      } else {
        do throws(CairnError) {
          try store.write(batch, sync: sync)
          if !messages.isEmpty { send(messages) }
        } catch {
          failure = error
        }
      }
      done.signal()
    }
  }

  /// Waits until the write (and the sends after it) finished; throws what the write threw.
  func wait() throws(CairnError) {
    done.wait()
    if let failure { throw failure }
  }
}
