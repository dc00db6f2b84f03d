import VOC
import Foundation

/// Loads items on background threads ahead of a single consumer, at most `depth` items ahead (bounded memory:
/// at most `depth` decoded images wait). Items come out in input order whatever order the workers finish in.
final class PrefetchQueue<Item: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var ready: [Int: Result<Item, Error>] = [:]
    private var nextToLoad = 0
    private var consumed = 0
    private var stopped = false
    private var running = 0
    private let count: Int
    private let depth: Int
    private let load: @Sendable (Int) throws -> Item

    /// Starts `workers` threads loading items `0..<count` with `load`.
    init(count: Int, depth: Int, workers: Int, load: @escaping @Sendable (Int) throws -> Item) {
        precondition(depth >= 1 && workers >= 1, "PrefetchQueue needs depth and workers >= 1")
        self.count = count
        self.depth = depth
        self.load = load
        running = workers
        for _ in 0..<workers {
            let thread = Thread { [self] in work() }
            thread.stackSize = 1 << 22
            thread.start()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while !stopped && nextToLoad < count && nextToLoad - consumed >= depth { condition.wait() }
            if stopped || nextToLoad >= count {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let k = nextToLoad
            nextToLoad += 1
            condition.unlock()
            let result = Result { try load(k) }
            condition.lock()
            ready[k] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Item `k`, waiting for it; items must be taken in order 0, 1, 2, ...
    func take(_ k: Int) throws -> Item {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let result = ready.removeValue(forKey: k) {
                consumed = k + 1
                condition.broadcast()
                return try result.get()
            }
            condition.wait()
        }
    }

    /// Stops the workers and waits until they have returned (an item being loaded finishes first).
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        ready.removeAll()
        condition.unlock()
    }
}
