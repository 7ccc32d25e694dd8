import CairnCore
import NIOCore
import Synchronization

/// The body of a request as it arrives, chunk by chunk, with backpressure: the producer (the
/// connection) is told to pause reading when more than `highWaterBytes` are buffered and to resume
/// when the consumer has drained the buffer.
public final class BodyStream: Sendable {
  /// Most bytes buffered before the connection stops reading.
  public static let highWaterBytes = 4 << 20

  private struct State {
    var chunks: [ByteBuffer] = []
    var bufferedBytes = 0
    var finished = false
    var failure: CairnError?
    var waiter: CheckedContinuation<Void, Never>?
    var isPaused = false
  }

  private let state = Mutex(State())
  /// Called (from the consumer's task) when a paused producer may resume.
  private let onDrain: @Sendable () -> Void

  init(onDrain: @escaping @Sendable () -> Void) { self.onDrain = onDrain }

  /// Adds a chunk; returns true when the producer should pause.
  func yield(_ chunk: ByteBuffer) -> Bool {
    let (waiter, pause) = state.withLock { s -> (CheckedContinuation<Void, Never>?, Bool) in
      s.chunks.append(chunk)
      s.bufferedBytes += chunk.readableBytes
      let w = s.waiter
      s.waiter = nil
      if s.bufferedBytes > Self.highWaterBytes { s.isPaused = true }
      return (w, s.isPaused)
    }
    waiter?.resume()
    return pause
  }

  func finish(failure: CairnError? = nil) {
    let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
      if !s.finished {
        s.finished = true
        s.failure = failure
      }
      let w = s.waiter
      s.waiter = nil
      return w
    }
    waiter?.resume()
  }

  /// The next chunk, or nil at the end of the body. Throws if the connection failed mid-body.
  public func next() async throws(CairnError) -> ByteBuffer? {
    while true {
      enum Step {
        case chunk(ByteBuffer, resume: Bool)
        case end
        case failed(CairnError)
        case wait
      }
      let step = state.withLock { s -> Step in
        if !s.chunks.isEmpty {
          let c = s.chunks.removeFirst()
          s.bufferedBytes -= c.readableBytes
          var resume = false
          if s.isPaused && s.bufferedBytes <= Self.highWaterBytes / 2 {
            s.isPaused = false
            resume = true
          }
          return .chunk(c, resume: resume)
        }
        if s.finished { return s.failure.map { .failed($0) } ?? .end }
        return .wait
      }
      switch step {
      case .chunk(let c, let resume):
        if resume { onDrain() }
        return c
      case .end: return nil
      case .failed(let e): throw e
      case .wait:
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
          let ready = state.withLock { s -> Bool in
            if !s.chunks.isEmpty || s.finished { return true }
            s.waiter = c
            return false
          }
          if ready { c.resume() }
        }
      }
    }
  }

  /// Reads the whole body, refusing more than `limit` bytes.
  public func collect(limit: Int) async throws(CairnError) -> [UInt8] {
    var out: [UInt8] = []
    while let chunk = try await next() {
      guard out.count + chunk.readableBytes <= limit else {
        throw CairnError(.tooLarge, "request body is larger than \(limit) bytes")
      }
      out.append(contentsOf: chunk.readableBytesView)
    }
    return out
  }
}
