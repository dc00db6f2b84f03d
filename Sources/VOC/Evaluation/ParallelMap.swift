import Dispatch

/// `(0..<count).map(body)` computed with `DispatchQueue.concurrentPerform`; each iteration writes only its own slot,
/// so the result does not depend on scheduling.
func parallelMap<T: Sendable>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    let slots = SlotBuffer<T>(count: count)
    DispatchQueue.concurrentPerform(iterations: count) { i in slots.store(body(i), at: i) }
    return slots.finish()
}

/// Write-once slots filled from concurrent iterations, one distinct index each (hence `@unchecked Sendable`).
private final class SlotBuffer<T>: @unchecked Sendable {
    private let base: UnsafeMutablePointer<T?>
    private let count: Int

    init(count: Int) {
        self.count = count
        base = UnsafeMutablePointer<T?>.allocate(capacity: Swift.max(count, 1))
        base.initialize(repeating: nil, count: count)
    }

    func store(_ value: T, at i: Int) {
        precondition(i >= 0 && i < count, "SlotBuffer index out of range")
        base[i] = value
    }

    func finish() -> [T] {
        (0..<count).compactMap { base[$0] }
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }
}
