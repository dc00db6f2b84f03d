// The one matrix-multiply entry point: OpenBLAS sgemm, single-threaded per call, split by us.
import COpenBLAS

/// Row-major single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`.
///
/// `op(A)` is `[m, k]`, `op(B)` is `[k, n]`, `C` is `[m, n]`; `lda`, `ldb`, `ldc` are the row
/// strides of the matrices as stored (before transposition). The columns of `C` are split into
/// pieces whose boundaries depend only on `m`, `n`, `k`, and the pieces run on `Runtime.threads`
/// threads, so the result is bit-identical for any thread count.
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    Runtime.prepareBLAS()
    let grid = TileGrid(m: m, n: n, k: k)
    let aBox = UncheckedBox(a), bBox = UncheckedBox(b), cBox = UncheckedBox(c)
    Runtime.parallelFor(pieces: grid.pieces) { piece, _ in
        let (rows, cols) = grid.tile(piece)
        // Row i of op(A) starts at a + i * lda (no transpose) or a + i; column j of op(B) likewise.
        let aTile = aBox.value + (transA ? rows.lowerBound : rows.lowerBound * lda)
        let bTile = bBox.value + (transB ? cols.lowerBound * ldb : cols.lowerBound)
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(rows.count), Int32(cols.count), Int32(k), alpha, aTile, Int32(lda),
                    bTile, Int32(ldb), beta, cBox.value + rows.lowerBound * ldc + cols.lowerBound, Int32(ldc))
    }
}

/// Array convenience over `sgemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)` with packed
/// (leading dimension = row length) operands.
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: [Float], b: [Float], beta: Float = 0, c: inout [Float]) {
    precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "sgemm operand too small")
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            c.withUnsafeMutableBufferPointer { c in
                guard let ap = a.baseAddress, let bp = b.baseAddress, let cp = c.baseAddress else { return }
                sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                      a: ap, lda: transA ? m : k, b: bp, ldb: transB ? k : n, beta: beta, c: cp, ldc: n)
            }
        }
    }
}

/// How a GEMM's output `[m, n]` is cut into independent tiles, each one single-threaded sgemm call.
///
/// A function of the problem shape only, never of the thread count: that is the determinism
/// contract (every output element is computed by the same call sequence whoever runs its tile).
/// The larger of `m` and `n` is cut, into at most 8 parts of at least 64 (multiples of 16, to align
/// with micro-kernel tiles), and only as many as the work justifies (~4 M multiply-adds per tile).
/// Cutting the larger side keeps each call's repacking small relative to its arithmetic: narrow
/// late layers (19x19 and smaller) are cut by output channel, wide early ones by pixel.
/// `maxTileElements` additionally bounds a tile's size, so that a memory-bound GEMM (small `k`) can
/// run its epilogue on a tile that is still in cache.
struct TileGrid {
    let m: Int, n: Int
    let rowWidth: Int, colWidth: Int
    let rowParts: Int, colParts: Int

    init(m: Int, n: Int, k: Int, maxPieces: Int = 8, maxTileElements: Int = .max) {
        self.m = m
        self.n = n
        let target = min(maxPieces, max(1, m * n * max(k, 1) / 4_000_000))
        let bySize = max(0, m * n - 1) / max(1, maxTileElements) + 1
        func cut(_ extent: Int) -> (width: Int, parts: Int) {
            let parts = max(1, min(max(target, bySize), extent / 64))
            let width = ((extent + parts - 1) / parts + 15) / 16 * 16
            return (width, (extent + width - 1) / width)
        }
        if n >= m {
            (colWidth, colParts) = cut(n)
            (rowWidth, rowParts) = (m, 1)
        } else {
            (rowWidth, rowParts) = cut(m)
            (colWidth, colParts) = (n, 1)
        }
    }

    var pieces: Int { rowParts * colParts }

    func tile(_ piece: Int) -> (rows: Range<Int>, cols: Range<Int>) {
        let r = piece / colParts, c = piece % colParts
        return (r * rowWidth..<min(m, (r + 1) * rowWidth), c * colWidth..<min(n, (c + 1) * colWidth))
    }
}
