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
    /// One factorisation and one triangular inverse, and better conditioned than inverting `A` first.
    /// - Returns: `U [n, n]` row-major, or nil when `A` is not positive definite.
    static func upperFactorOfInverse(_ a: [Double], dimension n: Int) -> [Double]? {
        precondition(a.count == n * n, "A must be [n, n]")
        var reversed = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { reversed[i * n + j] = a[(n - 1 - i) * n + (n - 1 - j)] } }
        guard factorLower(&reversed, dimension: n) else { return nil }
        var upper = [Double](repeating: 0, count: n * n)   // Ũ = J L' J
        for i in 0..<n { for j in i..<n { upper[i * n + j] = reversed[(n - 1 - i) * n + (n - 1 - j)] } }
        var inverse = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inverse[i * n + i] = 1 }
        // Solve Ũ X = I for X = Ũ⁻¹ (upper triangular).
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit,
                    Int32(n), Int32(n), 1, upper, Int32(n), &inverse, Int32(n))
        for i in 0..<n { for j in 0..<i { inverse[i * n + j] = 0 } }
        return inverse
    }
}
