// Runtime.parallelFor on its helper pool: every piece exactly once, valid worker indices, and nested or
// concurrent loops (which fall back to Dispatch) still complete.
import Dispatch
import Synchronization
import XCTest
@testable import Tensors

final class WorkerPoolTests: XCTestCase {
    override func tearDown() { Runtime.setThreads(2) }

    /// Runs a loop and returns how often each piece ran, checking the worker index of each.
    private func counts(pieces: Int, file: StaticString = #filePath, line: UInt = #line) -> [Int] {
        let hits = Mutex([Int](repeating: 0, count: pieces))
        let badWorker = Atomic<Int>(0)
        let workers = Runtime.workers(forPieces: pieces)
        Runtime.parallelFor(pieces: pieces) { piece, worker in
            if worker < 0 || worker >= workers { badWorker.wrappingAdd(1, ordering: .relaxed) }
            hits.withLock { $0[piece] += 1 }
        }
        XCTAssertEqual(badWorker.load(ordering: .relaxed), 0, "worker index out of range", file: file, line: line)
        return hits.withLock { $0 }
    }

    func testEveryPieceRunsOnceForManyLoopsAndThreadCounts() {
        for threads in [1, 2, 3] {
            Runtime.setThreads(threads)
            for pieces in [1, 2, 7, 1000] {
                for _ in 0..<50 {
                    XCTAssertEqual(counts(pieces: pieces), [Int](repeating: 1, count: pieces), "\(threads) threads")
                }
            }
        }
    }

    func testNestedAndConcurrentLoopsComplete() {
        Runtime.setThreads(2)
        let total = Atomic<Int>(0)
        Runtime.parallelFor(pieces: 8) { _, _ in
            Runtime.parallelFor(pieces: 16) { _, _ in total.wrappingAdd(1, ordering: .relaxed) }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 8 * 16)
        let concurrent = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<20 {
                Runtime.parallelFor(pieces: 32) { _, _ in concurrent.wrappingAdd(1, ordering: .relaxed) }
            }
        }
        XCTAssertEqual(concurrent.load(ordering: .relaxed), 4 * 20 * 32)
    }
}
