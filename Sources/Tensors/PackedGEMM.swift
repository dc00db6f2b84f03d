// Our own GEMM for convolutions: weights packed once, bias and activation fused, no per-call packing.

/// A convolution weight `[M, K]` packed for `packedGEMM`: row blocks of `PackedWeight.rows`, each stored
/// k-major (`[block][k][r]`) so that one k-step's weights are contiguous, the last block zero-padded.
///
/// Packing happens once, when the layer is built. OpenBLAS repacks both operands on every call, which
/// on MobileNet's small-K / small-M 1x1 convolutions costs as much as the arithmetic.
struct PackedWeight: Sendable {
    static let rows = 6
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

/// `C[o, j] = act(bias[o] + sum_k W[o, k] * B[k, j])` for rows `rows` and columns `cols` of `C`.
///
/// `b` is `[K, ldb]` row-major (an input plane or a patch matrix), `c` `[M, ldc]`. Every output is
/// the bias followed by the K products in k order, fused multiply-adds, then clamped: the same
/// operations whatever the tiling and whoever runs it, so results do not depend on the thread count.
/// `rows` must start on a `PackedWeight.rows` boundary. `tail` is `K * packedStripWidth +
/// PackedWeight.rows * packedStripWidth` floats of scratch for a last strip narrower than 32 columns.
func packedGEMM(_ w: PackedWeight, bias: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                c: UnsafeMutablePointer<Float>, ldc: Int, rows: Range<Int>, cols: Range<Int>,
                activation: Activation, tail: UnsafeMutablePointer<Float>) {
    precondition(rows.lowerBound % PackedWeight.rows == 0, "row tiles start on a block boundary")
    let (lower, upper) = activation.bounds
    let k = w.k, rb = PackedWeight.rows, sw = packedStripWidth
    w.data.withUnsafeBufferPointer { wb in
        guard let wp = wb.baseAddress else { return }
        var j = cols.lowerBound
        while j < cols.upperBound {
            let width = min(sw, cols.upperBound - j)
            // A narrow last strip runs on a zero-padded copy and lands in a temporary block.
            let full = width == sw
            if !full {
                for kk in 0..<k {
                    let dst = tail + kk * sw
                    dst.update(from: b + kk * ldb + j, count: width)
                    (dst + width).update(repeating: 0, count: sw - width)
                }
            }
            let bStrip = full ? b + j : UnsafePointer(tail)
            let bStride = full ? ldb : sw
            var o = rows.lowerBound
            while o < rows.upperBound {
                let n = min(rb, rows.upperBound - o)
                let out = full ? c + o * ldc + j : tail + k * sw
                let outStride = full ? ldc : sw
                microKernel6x32(a: wp + (o / rb) * k * rb, b: bStrip, ldb: bStride, k: k, bias: bias + o,
                                rows: n, c: out, ldc: outStride, lower: lower, upper: upper)
                if !full {
                    for r in 0..<n { (c + (o + r) * ldc + j).update(from: out + r * sw, count: width) }
                }
                o += rb
            }
            j += sw
        }
    }
}

/// Six rows by 32 columns: 12 vector accumulators, two vector loads and six broadcasts per k-step.
@inline(__always)
private func microKernel6x32(a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, k: Int,
                             bias: UnsafePointer<Float>, rows: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                             lower: Float, upper: Float) {
    typealias V = SIMD16<Float>
    // Rows past `rows` belong to the zero padding of the last block: their bias reads stay in bounds.
    @inline(__always) func seed(_ r: Int) -> V { V(repeating: r < rows ? bias[r] : 0) }
    var c00 = seed(0), c01 = c00, c10 = seed(1), c11 = c10, c20 = seed(2), c21 = c20
    var c30 = seed(3), c31 = c30, c40 = seed(4), c41 = c40, c50 = seed(5), c51 = c50
    var ap = a
    var bp = UnsafeRawPointer(b)
    let bStep = ldb * MemoryLayout<Float>.stride
    for _ in 0..<k {
        let b0 = bp.loadUnaligned(as: V.self)
        let b1 = bp.loadUnaligned(fromByteOffset: 64, as: V.self)
        c00.addProduct(V(repeating: ap[0]), b0); c01.addProduct(V(repeating: ap[0]), b1)
        c10.addProduct(V(repeating: ap[1]), b0); c11.addProduct(V(repeating: ap[1]), b1)
        c20.addProduct(V(repeating: ap[2]), b0); c21.addProduct(V(repeating: ap[2]), b1)
        c30.addProduct(V(repeating: ap[3]), b0); c31.addProduct(V(repeating: ap[3]), b1)
        c40.addProduct(V(repeating: ap[4]), b0); c41.addProduct(V(repeating: ap[4]), b1)
        c50.addProduct(V(repeating: ap[5]), b0); c51.addProduct(V(repeating: ap[5]), b1)
        ap += PackedWeight.rows
        bp += bStep
    }
    @inline(__always) func store(_ r: Int, _ v0: V, _ v1: V) {
        guard r < rows else { return }
        let p = c + r * ldc
        UnsafeMutableRawPointer(p).storeBytes(of: v0, as: V.self)
        UnsafeMutableRawPointer(p).storeBytes(of: v1, toByteOffset: 64, as: V.self)
        // A scalar loop the optimiser turns into two vector min/max (the SIMD clamp helpers are out-of-line calls).
        for i in 0..<packedStripWidth { p[i] = min(max(p[i], lower), upper) }
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
        // Prefer column chunks (each reads its input columns once); cut rows when columns run out.
        let cp = min(target, strips)
        let rp = min(blocks, max(1, target / cp))
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
func packedTailCount(k: Int) -> Int { (k + PackedWeight.rows) * packedStripWidth }

/// `Y = act(bias + W * B)` for one image, B `[K, N]` with row stride `ldb`, Y `[M, N]`, in parallel pieces.
func packedConvolution(_ w: PackedWeight, bias: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                       y: UnsafeMutablePointer<Float>, n: Int, activation: Activation,
                       scratch: UnsafeMutablePointer<Float>) {
    let grid = PackedGrid(m: w.m, n: n, k: w.k)
    let tailCount = packedTailCount(k: w.k)
    let box = UncheckedBox((bias, b, y, scratch))
    Runtime.parallelFor(pieces: grid.pieces) { piece, worker in
        let (bias, b, y, scratch) = box.value
        let (rows, cols) = grid.tile(piece)
        packedGEMM(w, bias: bias, b: b, ldb: ldb, c: y, ldc: n, rows: rows, cols: cols, activation: activation,
                   tail: scratch + worker * tailCount)
    }
}
