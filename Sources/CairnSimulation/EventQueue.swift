/// A binary min-heap of timed events; ties break by insertion order, so runs are deterministic.
struct EventQueue<Event> {
  private struct Item {
    var time: Int
    var sequence: UInt64
    var event: Event
    func precedes(_ other: Item) -> Bool {
      time != other.time ? time < other.time : sequence < other.sequence
    }
  }

  private var heap: [Item] = []
  private var nextSequence: UInt64 = 0

  var count: Int { heap.count }

  mutating func schedule(_ event: Event, at time: Int) {
    heap.append(Item(time: time, sequence: nextSequence, event: event))
    nextSequence += 1
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[child].precedes(heap[parent]) else { break }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  mutating func popFirst() -> (time: Int, event: Event)? {
    guard !heap.isEmpty else { return nil }
    heap.swapAt(0, heap.count - 1)
    let first = heap.removeLast()
    var parent = 0
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < heap.count && heap[left].precedes(heap[smallest]) { smallest = left }
      if right < heap.count && heap[right].precedes(heap[smallest]) { smallest = right }
      if smallest == parent { break }
      heap.swapAt(parent, smallest)
      parent = smallest
    }
    return (first.time, first.event)
  }
}
