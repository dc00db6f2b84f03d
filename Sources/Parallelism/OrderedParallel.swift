import Foundation

/// Runs independent jobs on several threads and returns their results in job order, so the output never
/// depends on the thread count or on scheduling.
public enum OrderedParallel {
    /// Computes `body(0..<count)` on up to `threads` threads (at least 1) and returns the results in index order.
    /// Jobs are handed out one at a time from a shared counter, so slow items (a large JPEG) do not stall a
    /// fixed chunk. `body` must be safe to call concurrently.
    public static func map<T: Sendable>(count: Int, threads: Int,
                                        _ body: @escaping @Sendable (Int) -> T) -> [T] {
        guard count > 0 else { return [] }
        let workers = max(1, min(threads, count))
        if workers == 1 { return (0..<count).map(body) }
        let slots = Slots<T>(count: count)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let index = slots.nextIndex() {
                slots.store(body(index), at: index)
            }
        }
        return slots.results()
    }
}

/// The shared state of one `OrderedParallel.map`: the next job index and the result slots, behind a lock.
/// Jobs take far longer than the lock (file I/O, decoding), so contention is irrelevant here.
private final class Slots<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var values: [T?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func nextIndex() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < values.count else { return nil }
        next += 1
        return next - 1
    }

    func store(_ value: T, at index: Int) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }

    /// Called after every job finished, so every slot is filled.
    func results() -> [T] {
        lock.lock()
        defer { lock.unlock() }
        return values.compactMap { $0 }
    }
}
