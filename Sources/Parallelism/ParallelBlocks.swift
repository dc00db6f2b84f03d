import Foundation

/// A raw pointer that may cross into `concurrentPerform`'s `@Sendable` closure. Safe here because every
/// user writes a disjoint range (one channel block per task) and the call returns only after all tasks end.
public struct SendablePointer<T>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<T>
    public init(base: UnsafeMutablePointer<T>) { self.base = base }
}

/// Deterministic parallel loop over `0..<count` in fixed blocks of `blockSize`.
///
/// The block partition depends only on `count` and `blockSize`, never on the thread count, and each index is
/// handled by exactly one task, so results are bit-identical for any `threads` (1 = run inline). Tasks pull
/// blocks from a shared counter, which balances uneven channel costs.
public func parallelBlocks(count: Int, blockSize: Int, threads: Int, _ body: @Sendable (Range<Int>) -> Void) {
    precondition(blockSize > 0, "block size must be positive")
    let blocks = (count + blockSize - 1) / blockSize
    let workers = Swift.max(1, Swift.min(threads, blocks))
    if workers == 1 {
        for b in 0..<blocks { body(b * blockSize..<Swift.min(count, (b + 1) * blockSize)) }
        return
    }
    let counter = BlockCounter()
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while let b = counter.next(limit: blocks) {
            body(b * blockSize..<Swift.min(count, (b + 1) * blockSize))
        }
    }
}

/// The shared "next block" counter of `parallelBlocks`.
private final class BlockCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next(limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}
