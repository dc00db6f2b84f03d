import Parallelism
import COpenBLAS

/// Dense Cholesky factorisations in Double for the Hessian-based baselines (GPTQ).
///
/// The package links OpenBLAS through its CBLAS header only (no LAPACKE), so the factorisation is written
/// here as a blocked right-looking algorithm whose bulk work is CBLAS level 3 (`dtrsm`, `dgemm`, `dtrmm`).
/// OpenBLAS runs single-threaded (see `QuadraticForms.pinBLAS`); the level-3 updates are split into fixed
/// chunks of `chunk` rows or columns (a partition that depends only on the size) run by `parallelBlocks`,
/// so every element is computed by one call in one order: identical results for any thread count.
enum Cholesky {
    /// Diagonal block size of the blocked factorisation.
    private static let blockSize = 64
    /// Rows/columns per parallel task of the level-3 updates.
    private static let chunk = 128

    /// In-place lower Cholesky factor of a symmetric positive-definite `A [n, n]` (row-major): on return the
    /// lower triangle holds `L` with `A = L Lᵀ` and the strict upper triangle is zeroed.
    /// - Returns: `false` when `A` is not (numerically) positive definite; `A` is then undefined.
    static func factorLower(_ a: inout [Double], dimension n: Int, threads: Int = 1) -> Bool {
        precondition(a.count == n * n, "A must be [n, n]")
        QuadraticForms.pinBLAS()
        let ok: Bool = a.withUnsafeMutableBufferPointer { buf in
            guard let p = buf.baseAddress else { return n == 0 }
            var start = 0
            while start < n {
                let size = Swift.min(blockSize, n - start)
                // Unblocked factorisation of the diagonal block A11 (its left part was already updated).
                for j in start..<(start + size) {
                    var diagonal = p[j * n + j]
                    for k in start..<j { diagonal -= p[j * n + k] * p[j * n + k] }
                    guard diagonal > 0, diagonal.isFinite else { return false }
                    let root = diagonal.squareRoot()
                    p[j * n + j] = root
                    for i in (j + 1)..<(start + size) {
                        var s = p[i * n + j]
                        for k in start..<j { s -= p[i * n + k] * p[j * n + k] }
                        p[i * n + j] = s / root
                    }
                }
                let rest = n - start - size
                if rest > 0 {
                    let l11 = SendablePointer(base: p + start * n + start)
                    let l21 = SendablePointer(base: p + (start + size) * n + start)
                    let a22 = SendablePointer(base: p + (start + size) * n + (start + size))
                    // L21 = A21 · L11⁻ᵀ, rows independent.
                    parallelBlocks(count: rest, blockSize: chunk, threads: threads) { rows in
                        cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit,
                                    Int32(rows.count), Int32(size), 1, l11.base, Int32(n),
                                    l21.base + rows.lowerBound * n, Int32(n))
                    }
                    // A22 -= L21 · L21ᵀ on the lower triangle, by row chunks: rows r0..<r1 need columns
                    // 0..<r1 (the few upper entries this also touches are never read, and zeroed at the end).
                    parallelBlocks(count: rest, blockSize: chunk, threads: threads) { rows in
                        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows.count),
                                    Int32(rows.upperBound), Int32(size), -1, l21.base + rows.lowerBound * n,
                                    Int32(n), l21.base, Int32(n), 1, a22.base + rows.lowerBound * n, Int32(n))
                    }
                }
                start += size
            }
            for i in 0..<n { for j in (i + 1)..<Swift.max(i + 1, n) { p[i * n + j] = 0 } }
            return true
        }
        return ok
    }

    /// The upper Cholesky factor of the inverse: `U` upper triangular with positive diagonal and
    /// `A⁻¹ = Uᵀ U` — what GPTQ calls `cholesky(inverse(H), upper=True)` — without forming `A⁻¹`.
    ///
    /// With the reversal permutation `J`, factor `J A J = L' L'ᵀ`; then `A = Ũ Ũᵀ` with `Ũ = J L' J` upper, so
    /// `A⁻¹ = Ũ⁻ᵀ Ũ⁻¹ = Uᵀ U` with `U = Ũ⁻¹` (upper, diagonal `1/Ũ_ii > 0`: the unique such factor).
    /// One factorisation and one triangular inverse (`invertUpper`), and better conditioned than inverting `A`.
    /// - Returns: `U [n, n]` row-major, or nil when `A` is not positive definite.
    static func upperFactorOfInverse(_ a: [Double], dimension n: Int, threads: Int = 1) -> [Double]? {
        precondition(a.count == n * n, "A must be [n, n]")
        // (J A J)_ij = A_{n-1-i, n-1-j}: in row-major storage that is the element order reversed.
        var reversed = Array(a.reversed())
        guard factorLower(&reversed, dimension: n, threads: threads) else { return nil }
        let upper = Array(reversed.reversed())   // Ũ = J L' J (L' has a zero strict upper triangle)
        var inverse = upper
        inverse.withUnsafeMutableBufferPointer { buf in
            if let p = buf.baseAddress { invertUpper(p, size: n, leading: n, threads: threads) }
        }
        return inverse
    }

    /// In-place inverse of an upper-triangular block `T [size, size]` (row-major, leading dimension `leading`,
    /// non-zero diagonal). Recursive: with `T = [[A, B], [0, D]]`, `T⁻¹ = [[A⁻¹, -A⁻¹ B D⁻¹], [0, D⁻¹]]`, the
    /// off-diagonal block by two CBLAS `dtrmm` calls — `n³/3` flops instead of the `n³` of a solve against I.
    private static func invertUpper(_ p: UnsafeMutablePointer<Double>, size n: Int, leading lda: Int,
                                    threads: Int) {
        if n <= blockSize {
            // Back substitution column by column into a scratch copy: X_jj = 1/T_jj,
            // X_ij = -(Σ_{k=i+1…j} T_ik X_kj) / T_ii for i < j.
            var x = [Double](repeating: 0, count: n * n)
            for j in 0..<n {
                x[j * n + j] = 1 / p[j * lda + j]
                for i in stride(from: j - 1, through: 0, by: -1) {
                    var s = 0.0
                    for k in (i + 1)...j { s += p[i * lda + k] * x[k * n + j] }
                    x[i * n + j] = -s / p[i * lda + i]
                }
            }
            for i in 0..<n { for j in i..<n { p[i * lda + j] = x[i * n + j] } }
            return
        }
        let k = n / 2
        let a = SendablePointer(base: p), b = SendablePointer(base: p + k)
        let d = SendablePointer(base: p + k * lda + k)
        invertUpper(a.base, size: k, leading: lda, threads: threads)
        invertUpper(d.base, size: n - k, leading: lda, threads: threads)
        // B := -A⁻¹ B (columns of B independent), then B := B D⁻¹ (rows independent).
        parallelBlocks(count: n - k, blockSize: chunk, threads: threads) { columns in
            cblas_dtrmm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, Int32(k),
                        Int32(columns.count), -1, a.base, Int32(lda), b.base + columns.lowerBound, Int32(lda))
        }
        parallelBlocks(count: k, blockSize: chunk, threads: threads) { rows in
            cblas_dtrmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, Int32(rows.count),
                        Int32(n - k), 1, d.base, Int32(lda), b.base + rows.lowerBound * lda, Int32(lda))
        }
    }
}
