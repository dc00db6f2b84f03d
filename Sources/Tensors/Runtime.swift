// Thread control for every parallel loop in the module (ours and OpenBLAS's).
import COpenBLAS
import Dispatch
import Foundation
import Synchronization

/// Process-wide thread control.
///
/// Determinism contract: every kernel splits its work into pieces whose boundaries depend only on
/// the problem shape, never on the thread count, and each piece is computed by exactly the same
/// sequence of floating-point operations whichever thread runs it. Threads only decide *who*
/// computes a piece, so outputs are bit-identical for any thread count. OpenBLAS itself is pinned
/// to one thread per call: its internal partitioning is not part of that contract.
public enum Runtime {
    private static let configuredThreads = Atomic<Int>(0)

    /// Pins OpenBLAS to single-threaded calls; evaluated once, on first use of any kernel.
    private static let blasPinned: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    /// Sets how many threads the kernels use (clamped to at least 1).
    ///
    /// Outputs do not depend on this value; only latency does.
    public static func setThreads(_ n: Int) {
        _ = blasPinned
        configuredThreads.store(max(1, n), ordering: .relaxed)
    }

    /// The number of threads kernels use; defaults to the number of active processors.
    public static var threads: Int {
        let n = configuredThreads.load(ordering: .relaxed)
        return n > 0 ? n : max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Makes sure OpenBLAS runs single-threaded before a kernel calls into it.
    @inline(__always)
    static func prepareBLAS() { _ = blasPinned }

    /// Runs `body(piece, worker)` for every `piece` in `0..<pieces`, on at most `threads` threads.
    ///
    /// `worker` is in `0..<min(threads, pieces)` and identifies the calling thread, so a caller can
    /// hand each worker its own scratch region. Pieces are claimed dynamically (load balance); that is
    /// safe for determinism because a piece's result never depends on which worker computes it.
    public static func parallelFor(pieces: Int, _ body: (_ piece: Int, _ worker: Int) -> Void) {
        let workers = min(threads, pieces)
        if workers <= 1 {
            for p in 0..<pieces { body(p, 0) }
            return
        }
        if pool.run(pieces: pieces, workers: workers, body) { return }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                while true {
                    let p = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if p >= pieces { break }
                    box.value(p, worker)
                }
            }
        }
    }

    /// Helpers for all but the caller's share of the machine's cores (created on first parallel use).
    private static let pool = WorkerPool(helpers: max(1, ProcessInfo.processInfo.activeProcessorCount - 1))

    /// The vector extensions this build's own kernels were compiled for: `avx512`, `avx2` (both with FMA) or
    /// `portable` (a release build without `-Xcc -march=native`, whose SIMD code runs FMA as library calls; the
    /// native engine then sends GEMM convolutions to OpenBLAS).
    public static var buildVectorTarget: String {
        switch mpq_build_vector_level() {
        case 2: return "avx512"
        case 1: return "avx2"
        default: return "portable"
        }
    }

    /// How many workers `parallelFor(pieces:)` will use; size per-worker scratch with this.
    public static func workers(forPieces pieces: Int) -> Int { max(1, min(threads, pieces)) }
}

/// Carries a non-Sendable value into `concurrentPerform`. The kernels guarantee that concurrent
/// pieces touch disjoint memory, which is what makes this sound.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
