import COpenBLAS

/// Dense Cholesky factorisations in Double for the Hessian-based baselines (GPTQ).
///
/// The package links OpenBLAS through its CBLAS header only (no LAPACKE), so the factorisation is written
/// here as a blocked right-looking algorithm whose bulk work is CBLAS level 3 (`dtrsm`, `dsyrk`). Each BLAS
/// call computes every output element in one fixed order, so results do not depend on the thread count.
enum Cholesky {
    /// Diagonal block size of the blocked factorisation.
    private static let blockSize = 64

    /// In-place lower Cholesky factor of a symmetric positive-definite `A [n, n]` (row-major): on return the
    /// lower triangle holds `L` with `A = L Lᵀ` and the strict upper triangle is zeroed.
    /// - Returns: `false` when `A` is not (numerically) positive definite; `A` is then undefined.
    static func factorLower(_ a: inout [Double], dimension n: Int) -> Bool {
        precondition(a.count == n * n, "A must be [n, n]")
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
                    let l11 = p + start * n + start, l21 = p + (start + size) * n + start
                    // L21 = A21 · L11⁻ᵀ
                    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit,
                                Int32(rest), Int32(size), 1, l11, Int32(n), l21, Int32(n))
                    // A22 -= L21 · L21ᵀ (lower triangle)
                    let a22 = p + (start + size) * n + (start + size)
                    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, Int32(rest), Int32(size), -1,
                                l21, Int32(n), 1, a22, Int32(n))
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
    static func upperFactorOfInverse(_ a: [Double], dimension n: Int) -> [Double]? {
        precondition(a.count == n * n, "A must be [n, n]")
        // (J A J)_ij = A_{n-1-i, n-1-j}: in row-major storage that is the element order reversed.
        var reversed = Array(a.reversed())
        guard factorLower(&reversed, dimension: n) else { return nil }
        let upper = Array(reversed.reversed())   // Ũ = J L' J (L' has a zero strict upper triangle)
        var inverse = upper
        inverse.withUnsafeMutableBufferPointer { buf in
            if let p = buf.baseAddress { invertUpper(p, size: n, leading: n) }
        }
        return inverse
    }

    /// In-place inverse of an upper-triangular block `T [size, size]` (row-major, leading dimension `leading`,
    /// non-zero diagonal). Recursive: with `T = [[A, B], [0, D]]`, `T⁻¹ = [[A⁻¹, -A⁻¹ B D⁻¹], [0, D⁻¹]]`, the
    /// off-diagonal block by two CBLAS `dtrmm` calls — `n³/3` flops instead of the `n³` of a solve against I.
    private static func invertUpper(_ p: UnsafeMutablePointer<Double>, size n: Int, leading lda: Int) {
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
        let a = p, b = p + k, d = p + k * lda + k
        invertUpper(a, size: k, leading: lda)
        invertUpper(d, size: n - k, leading: lda)
        cblas_dtrmm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit,
                    Int32(k), Int32(n - k), -1, a, Int32(lda), b, Int32(lda))     // B := -A⁻¹ B
        cblas_dtrmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit,
                    Int32(k), Int32(n - k), 1, d, Int32(lda), b, Int32(lda))      // B := B D⁻¹
    }
}
