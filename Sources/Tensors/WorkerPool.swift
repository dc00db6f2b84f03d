// Helper threads that stay awake between the many short parallel loops of one forward pass.
import Dispatch
import Foundation
import Synchronization

/// A fixed set of helper threads for `Runtime.parallelFor`.
///
/// A MobileNet pass runs ~150 parallel loops of 10–100 µs each; handing each to
/// `DispatchQueue.concurrentPerform` cost a thread wake-up per loop (~2.3 ms CPU per pass at 2 threads).
/// Helpers here spin briefly on a generation counter after each loop, then sleep on a semaphore. The
/// caller runs pieces too and returns only after every helper has acknowledged the loop, so a loop's
/// closure never outlives the call. One loop at a time: a nested or concurrent call (or one wanting more
/// workers than there are helpers) gets `false` and runs elsewhere. Which worker runs which piece never
/// affects results (see `Runtime`).
final class WorkerPool: @unchecked Sendable {
    let helpers: Int
    private let generation = Atomic<Int>(0)
    private let acknowledged = Atomic<Int>(0)
    private let next = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let inUse = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    // Written by the caller before it publishes a generation; read by helpers after they see it.
    private var body: ((Int, Int) -> Void)?
    private var pieces = 0
    private var workers = 0

    init(helpers: Int) {
        precondition(helpers >= 1, "a pool needs at least one helper")
        self.helpers = helpers
        for index in 1...helpers {
            let thread = Thread { [self] in loop(worker: index) }
            thread.name = "mpq-worker-\(index)"
            thread.start()
        }
    }

    /// Runs `body(piece, worker)` for every piece on the caller (worker 0) and `workers - 1` helpers;
    /// returns false, having run nothing, when the pool is busy or too small.
    func run(pieces: Int, workers: Int, _ body: (Int, Int) -> Void) -> Bool {
        guard workers - 1 <= helpers,
              inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { body in
            self.body = body
            self.pieces = pieces
            self.workers = workers
            next.store(0, ordering: .relaxed)
            acknowledged.store(0, ordering: .relaxed)
            generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
            for _ in 0..<sleepers.load(ordering: .sequentiallyConsistent) { wake.signal() }
            work(worker: 0)
            var spins = 0
            while acknowledged.load(ordering: .acquiring) < helpers {
                spins += 1
                if spins > 1_000 { sched_yield() }
            }
            self.body = nil
        }
        inUse.store(false, ordering: .releasing)
        return true
    }

    private func work(worker: Int) {
        guard worker < workers, let body else { return }
        while true {
            let p = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if p >= pieces { return }
            body(p, worker)
        }
    }

    private func loop(worker: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < 50_000 { continue }
                // Announce the sleep, then re-check: either the caller sees us counted and signals, or we
                // see its new generation (both are sequentially consistent). Extra signals only cause a
                // spurious wake-up.
                sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) == seen { wake.wait() }
                sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                spins = 0
            }
            // The caller publishes the next generation only after every helper acknowledged this one.
            seen = generation.load(ordering: .acquiring)
            work(worker: worker)
            acknowledged.wrappingAdd(1, ordering: .releasing)
        }
    }
}
