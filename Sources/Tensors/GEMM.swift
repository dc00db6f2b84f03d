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
    let split = GEMMSplit(m: m, n: n, k: k)
    Runtime.parallelFor(pieces: split.pieces) { piece, _ in
        let cols = split.columns(of: piece)
        // Column j of op(B) starts at b + j (no transpose) or b + j * ldb (transposed).
        let bOffset = transB ? cols.lowerBound * ldb : cols.lowerBound
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(cols.count), Int32(k), alpha, a, Int32(lda),
                    b + bOffset, Int32(ldb), beta, c + cols.lowerBound, Int32(ldc))
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

/// How a GEMM's output columns are cut into independent pieces.
///
/// A function of the problem shape only (never of the thread count): that is the determinism
/// contract. Pieces are wide enough (>= 32 columns) to keep sgemm's micro-kernel efficient, and
/// numerous enough (up to 8) to load-balance two or more threads when there is enough work.
struct GEMMSplit {
    let n: Int
    let pieces: Int
    let width: Int

    init(m: Int, n: Int, k: Int) {
        self.n = n
        let work = m * n * max(k, 1)
        let byWork = max(1, work / 2_000_000)          // ~2 MFLOP-pairs per piece at least
        let byWidth = max(1, n / 32)
        let pieces = min(8, byWork, byWidth)
        // Round the width up to a multiple of 16 so piece edges align with micro-kernel tiles.
        let width = ((n + pieces - 1) / pieces + 15) / 16 * 16
        self.width = width
        self.pieces = (n + width - 1) / width
    }

    func columns(of piece: Int) -> Range<Int> {
        let lo = piece * width
        return lo..<min(n, lo + width)
    }
}
