import CairnCore
import Foundation

/// A task executor with one dedicated thread, for a long-running loop that mixes waiting with
/// blocking work (a Raft loop's fsyncs): `Task(executorPreference: executor) { … }` runs the task
/// there, so it may block (the thread is its own, not one of the few cooperative threads) and
/// needs no hop to a thread pool and back for each blocking call. Its jobs run one at a time in
/// the order they were enqueued. `shutdown()` lets the thread end once its queue is empty.
public final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
  private let condition = NSCondition()
  private var jobs: [UnownedJob] = []
  private var isShutDown = false
  private var thread: Thread?

  public init(name: String) {
    // The thread holds the executor until `shutdown()` lets it end.
    let thread = Thread {
      Thread.current.name = name  // set from the thread itself, so tools (perf, top -H) show it
      self.run()
    }
    self.thread = thread
    thread.start()
  }

  public func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    condition.lock()
    jobs.append(job)
    let wasIdle = jobs.count == 1
    condition.unlock()
    if wasIdle { condition.signal() }
  }

  /// Ends the thread once every job enqueued so far has run. Enqueuing afterwards is a bug.
  public func shutdown() {
    condition.lock()
    isShutDown = true
    condition.unlock()
    condition.signal()
  }

  private func run() {
    while true {
      condition.lock()
      while jobs.isEmpty && !isShutDown { condition.wait() }
      if jobs.isEmpty {
        thread = nil
        condition.unlock()
        return
      }
      // Take every waiting job at once: one lock round per wake-up, not per job.
      let batch = jobs
      jobs = []
      condition.unlock()
      for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
    }
  }
}
