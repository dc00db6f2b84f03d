// Our own GEMM for convolutions: weights packed once, bias and activation fused, no per-call packing.
import Foundation
import COpenBLAS

/// A convolution weight `[M, K]` packed for `packedGEMM`: row blocks of `PackedWeight.rows`, each stored
/// k-major (`[block][k][r]`) so that one k-step's weights are contiguous, the last block zero-padded.
///
/// Packing happens once, when the layer is built. OpenBLAS repacks both operands on every call, which
/// on MobileNet's small-K / small-M 1x1 convolutions costs as much as the arithmetic.
struct PackedWeight: Sendable {
    static let rows = 6
    /// On in optimised builds compiled for FMA (`-Xcc -march=native`). The debug build runs GEMM convolutions
    /// on OpenBLAS: unoptimised SIMD code is 5–30x slower than OpenBLAS there, which would make the full-size
    /// parity tests take many minutes (the kernel itself is tested directly, and `MPQ_GEMM=packed` forces it
    /// on). So does a portable release build, whose SIMD code calls `fmaf` per lane (measured: mb2-ssd-lite
    /// 1176 ms per pass on the packed kernel, 93 ms on OpenBLAS). `MPQ_GEMM=openblas` turns it off in any build
    /// (for A/B measurements).
    static let enabled: Bool = {
        switch ProcessInfo.processInfo.environment["MPQ_GEMM"] {
        case "packed": return true
        case "openblas": return false
        default:
            #if DEBUG
            return false
            #else
            return mpq_build_vector_level() > 0
            #endif
        }
    }()
    /// Layers both deep (K > 2304) and wide (M > 512) stay on OpenBLAS: VGG's dilated conv6 (K = 4608,
    /// M = 1024) measured 164–170 vs 183 GFLOP/s per core there; every other VGG and MobileNet layer
    /// measured faster on the packed kernel (see notes/runtime-performance.md).
    static let maxDepth = 2304
    static let maxDeepRows = 512

    /// Whether a convolution with `m` outputs, this patch length and groups runs on the packed kernel.
    static func handles(m: Int, patchLength k: Int, groups: Int) -> Bool {
        enabled && groups == 1 && (k <= maxDepth || m <= maxDeepRows)
    }

    let m: Int, k: Int
    let data: [Float]

    init(_ w: UnsafePointer<Float>, m: Int, k: Int) {
        self.m = m
        self.k = k
        let blocks = (m + PackedWeight.rows - 1) / PackedWeight.rows
        var packed = [Float](repeating: 0, count: blocks * k * PackedWeight.rows)
        for o in 0..<m {
            let block = o / PackedWeight.rows, r = o % PackedWeight.rows
            for kk in 0..<k { packed[(block * k + kk) * PackedWeight.rows + r] = w[o * k + kk] }
        }
        data = packed
    }
}

/// Columns per micro-kernel strip (two 16-lane vectors).
let packedStripWidth = 32
/// K-steps per pass over a strip: a 256 x 32 panel (32 KB) stays in L1 while every row block reads it.
let packedDepth = 256

/// `C[o, j] = act(bias[o] + sum_k W[o, k] * B[k, j])` for rows `rows` and columns `cols` of `C`.
///
/// `b` is `[K, ldb]` row-major (an input plane or a patch matrix), `c` `[M, ldc]`. Every output is
/// the bias followed by the K products in k order, fused multiply-adds, then clamped; a long K is cut
/// into passes of `packedDepth` whose partial sums wait in `C` (a float, as in the register), so the
/// operations are the same whatever the tiling and whoever runs it: results do not depend on the
/// thread count. `rows` must start on a `PackedWeight.rows` boundary. `work` holds
/// `packedWorkCount(k:rows:)` floats.
func packedGEMM(_ w: PackedWeight, bias: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                c: UnsafeMutablePointer<Float>, ldc: Int, rows: Range<Int>, cols: Range<Int>,
                activation: Activation, work: UnsafeMutablePointer<Float>) {
    precondition(rows.lowerBound % PackedWeight.rows == 0, "row tiles start on a block boundary")
    let (lower, upper) = activation.bounds
    let k = w.k, rb = PackedWeight.rows, sw = packedStripWidth
    // The panel starts on a cache line, so its rows are whole lines.
    let panel = UnsafeMutablePointer<Float>(bitPattern: (Int(bitPattern: work) + 63) & ~63) ?? work
    let narrow = panel + packedDepth * sw   // the last strip's outputs, [rows, sw]
    // Loop order: depth passes outermost, so one pass's weights (rows x 256) stay in L2 while every
    // strip of the tile streams past them (strip-outermost re-read all of a large K x M weight per strip).
    w.data.withUnsafeBufferPointer { wb in
        guard let wp = wb.baseAddress else { return }
        var kb = 0
        while kb < k {
            let depth = min(packedDepth, k - kb)
            let first = kb == 0, last = kb + depth == k
            var j = cols.lowerBound
            while j < cols.upperBound {
                let width = min(sw, cols.upperBound - j)
                let full = width == sw
                // The last, narrower strip runs on a zero-padded copy and lands in `narrow`. (Copying every
                // strip to the aligned panel measured 5-20% slower: the in-place rows are read from L1/L2.)
                let pack = !full
                if pack {
                    for kk in 0..<depth {
                        let dst = panel + kk * sw
                        dst.update(from: b + (kb + kk) * ldb + j, count: width)
                        if !full { (dst + width).update(repeating: 0, count: sw - width) }
                    }
                }
                let bPass = pack ? UnsafePointer(panel) : b + kb * ldb + j
                let bStride = pack ? sw : ldb
                let out = full ? c + j : narrow - rows.lowerBound * sw
                let outStride = full ? ldc : sw
                // A last strip of at most 16 columns runs one vector wide: with 32 it cost a whole strip
                // (N = 100, the 10x10 layers: 4 strips' work for 3.1).
                let twoVectors = width > sw / 2
                var o = rows.lowerBound
                while o < rows.upperBound {
                    let a = wp + (o / rb) * k * rb + kb * rb, rowCount = min(rb, rows.upperBound - o)
                    let lo = last ? lower : -.infinity, hi = last ? upper : .infinity
                    // Two call sites with constant widths, so each inlined copy drops the other's branches.
                    if twoVectors {
                        microKernel6x32(a: a, b: bPass, ldb: bStride, k: depth, bias: first ? bias + o : nil,
                                        rows: rowCount, c: out + o * outStride, ldc: outStride,
                                        lower: lo, upper: hi, twoVectors: true)
                    } else {
                        microKernel6x32(a: a, b: bPass, ldb: bStride, k: depth, bias: first ? bias + o : nil,
                                        rows: rowCount, c: out + o * outStride, ldc: outStride,
                                        lower: lo, upper: hi, twoVectors: false)
                    }
                    o += rb
                }
                if last && !full {
                    for o in rows { (c + o * ldc + j).update(from: out + o * outStride, count: width) }
                }
                j += sw
            }
            kb += depth
        }
    }
}

/// Scratch floats `packedGEMM` needs for a tile of `rows` rows.
func packedWorkCount(k: Int, rows: Int) -> Int { (packedDepth + rows) * packedStripWidth + 16 }

/// Six rows by 32 columns: 12 vector accumulators, two vector loads and six broadcasts per k-step.
/// Starts from `bias` (first pass) or from the partial sums in `c`; clamps to `[lower, upper]`. Without
/// `twoVectors` only the first 16 columns are computed, read and written (each output's operations unchanged).
@inline(__always)
private func microKernel6x32(a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, k: Int,
                             bias: UnsafePointer<Float>?, rows: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                             lower: Float, upper: Float, twoVectors: Bool) {
    typealias V = SIMD16<Float>
    // Rows past `rows` belong to the zero padding of the last block: never read or written.
    @inline(__always) func seed(_ r: Int, _ half: Int) -> V {
        guard r < rows, half == 0 || twoVectors else { return V() }
        if let bias { return V(repeating: bias[r]) }
        return UnsafeRawPointer(c + r * ldc).loadUnaligned(fromByteOffset: half * 64, as: V.self)
    }
    var c00 = seed(0, 0), c01 = seed(0, 1), c10 = seed(1, 0), c11 = seed(1, 1), c20 = seed(2, 0), c21 = seed(2, 1)
    var c30 = seed(3, 0), c31 = seed(3, 1), c40 = seed(4, 0), c41 = seed(4, 1), c50 = seed(5, 0), c51 = seed(5, 1)
    var ap = a
    var bp = UnsafeRawPointer(b)
    let bStep = ldb * MemoryLayout<Float>.stride
    for _ in 0..<k {
        let b0 = bp.loadUnaligned(as: V.self)
        c00.addProduct(V(repeating: ap[0]), b0); c10.addProduct(V(repeating: ap[1]), b0)
        c20.addProduct(V(repeating: ap[2]), b0); c30.addProduct(V(repeating: ap[3]), b0)
        c40.addProduct(V(repeating: ap[4]), b0); c50.addProduct(V(repeating: ap[5]), b0)
        if twoVectors {
            let b1 = bp.loadUnaligned(fromByteOffset: 64, as: V.self)
            c01.addProduct(V(repeating: ap[0]), b1); c11.addProduct(V(repeating: ap[1]), b1)
            c21.addProduct(V(repeating: ap[2]), b1); c31.addProduct(V(repeating: ap[3]), b1)
            c41.addProduct(V(repeating: ap[4]), b1); c51.addProduct(V(repeating: ap[5]), b1)
        }
        ap += PackedWeight.rows
        bp += bStep
    }
    let clamp = lower > -.infinity || upper < .infinity
    @inline(__always) func store(_ r: Int, _ v0: V, _ v1: V) {
        guard r < rows else { return }
        let p = c + r * ldc
        UnsafeMutableRawPointer(p).storeBytes(of: v0, as: V.self)
        if twoVectors { UnsafeMutableRawPointer(p).storeBytes(of: v1, toByteOffset: 64, as: V.self) }
        // A scalar loop the optimiser turns into vector max/min. Comparisons, not the stdlib's generic
        // min/max or SIMD clamp helpers: those are sometimes left as out-of-line calls (measured 6% of VGG).
        let width = twoVectors ? packedStripWidth : packedStripWidth / 2
        if clamp { for i in 0..<width { p[i] = clamped(p[i], lower, upper) } }
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21)
    store(3, c30, c31); store(4, c40, c41); store(5, c50, c51)
}

/// How `packedConvolution` cuts an `[M, N]` output into pieces: column chunks (multiples of the strip
/// width) and row chunks (multiples of the weight block), about 1 M multiply-adds each, at most 32.
/// Any cut gives the same bits (see `packedGEMM`); the cut only balances the threads.
struct PackedGrid {
    let m: Int, n: Int
    let colWidth: Int, rowWidth: Int
    let colParts: Int, rowParts: Int

    init(m: Int, n: Int, k: Int) {
        self.m = m
        self.n = n
        let target = max(1, min(32, m * n * k / 1_000_000))
        let strips = (n + packedStripWidth - 1) / packedStripWidth
        let blocks = (m + PackedWeight.rows - 1) / PackedWeight.rows
        // Every column part re-reads the whole weight (m x k) and every row part the whole input
        // (k x n): pick the split into ~target pieces that reads the least.
        var (rp, cp) = (1, min(target, strips))
        for r in 1...min(target, blocks) {
            let c = min(strips, (target + r - 1) / r)
            if m * c + n * r < m * cp + n * rp { (rp, cp) = (r, c) }
        }
        colWidth = (strips + cp - 1) / cp * packedStripWidth
        rowWidth = (blocks + rp - 1) / rp * PackedWeight.rows
        colParts = (n + colWidth - 1) / colWidth
        rowParts = (m + rowWidth - 1) / rowWidth
    }

    var pieces: Int { rowParts * colParts }

    func tile(_ piece: Int) -> (rows: Range<Int>, cols: Range<Int>) {
        let r = piece / colParts, c = piece % colParts
        return (r * rowWidth..<min(m, (r + 1) * rowWidth), c * colWidth..<min(n, (c + 1) * colWidth))
    }
}

/// Scratch floats `packedConvolution` needs per worker.
func packedScratchCount(_ grid: PackedGrid, k: Int) -> Int { packedWorkCount(k: k, rows: grid.rowWidth) }

/// `min(max(v, lower), upper)` written with comparisons so that it always inlines and vectorises.
@inline(__always)
func clamped(_ v: Float, _ lower: Float, _ upper: Float) -> Float {
    let low = v < lower ? lower : v
    return low > upper ? upper : low
}
