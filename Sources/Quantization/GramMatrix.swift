import Parallelism
import COpenBLAS

/// The calibration Gram matrix `H = Xᵀ X` of one conv group, `[d, d]` row-major, symmetric, Double.
///
/// `X [N, d]` are the im2col rows of the group's input over the calibration images (never the evaluation
/// split), in the weight's `[in/groups, kh, kw]` order, so `||X (w - ŵ)||² = (w - ŵ)ᵀ H (w - ŵ)` is the
/// squared output error of a channel. A reference type so layers reading the same input can share one `H`.
public final class GramMatrix: @unchecked Sendable {
    public let dimension: Int
    /// `[d, d]` row-major; immutable after `init`.
    public let values: [Double]

    /// - Throws: `QuantizationError.invalidShape` unless `values.count == d²` and every value is finite.
    public init(dimension: Int, values: [Double]) throws {
        guard dimension >= 1, values.count == dimension * dimension else {
            throw QuantizationError.invalidShape("Gram matrix has \(values.count) values, expected \(dimension)²")
        }
        guard values.allSatisfy({ $0.isFinite }) else {
            throw QuantizationError.invalidShape("Gram matrix contains NaN or infinity")
        }
        self.dimension = dimension
        self.values = values
    }

    /// `H = Xᵀ X` of samples `X [rows, d]` (row-major Float), accumulated in Double.
    public static func of(samples x: [Float], rows: Int, dimension d: Int) throws -> GramMatrix {
        guard rows >= 0, d >= 1, x.count == rows * d else {
            throw QuantizationError.invalidShape("samples have \(x.count) values, expected \(rows) × \(d)")
        }
        var h = [Double](repeating: 0, count: d * d)
        if rows > 0 {
            let xd = x.map { Double($0) }
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(rows), 1, xd, Int32(d), 0, &h, Int32(d))
            for i in 0..<d { for j in 0..<i { h[i * d + j] = h[j * d + i] } }
        }
        return try GramMatrix(dimension: d, values: h)
    }
}

/// Quadratic forms `δᵀ H δ`, the output errors of the allocator.
enum QuadraticForms {
    /// OpenBLAS runs single-threaded (the runtime's contract too): parallelism comes from our fixed chunks,
    /// so results never depend on the thread count.
    private static let pinned: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    static func pinBLAS() { _ = pinned }

    /// `out[i] = δ_iᵀ H δ_i` for the rows `δ [m, d]` (row-major Double): one `P = δ·H` GEMM (single-threaded
    /// OpenBLAS, see `pinBLAS`) and a row-wise dot product.
    static func batch(_ rows: [Double], count m: Int, gram: GramMatrix) -> [Double] {
        let d = gram.dimension
        precondition(rows.count == m * d, "rows must be [m, d]")
        guard m > 0 else { return [] }
        var product = [Double](repeating: 0, count: m * d)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(d), Int32(d), 1, rows, Int32(d),
                    gram.values, Int32(d), 0, &product, Int32(d))
        var out = [Double](repeating: 0, count: m)
        for i in 0..<m {
            var s = 0.0
            for j in 0..<d { s += product[i * d + j] * rows[i * d + j] }
            out[i] = s
        }
        return out
    }

    /// `δᵀ H δ` for one vector, reading only the upper triangle: `Σ_i δ_i (H_ii δ_i + 2 Σ_{j>i} H_ij δ_j)`.
    /// Memory-bound on large `d`, so rows are split over `threads` in fixed blocks whose partial sums are
    /// added in block order (deterministic for any thread count).
    static func single(_ delta: UnsafeBufferPointer<Double>, gram: GramMatrix, threads: Int) -> Double {
        let d = gram.dimension
        precondition(delta.count == d, "δ must have length d")
        let blockRows = 64
        let blocks = (d + blockRows - 1) / blockRows
        var partial = [Double](repeating: 0, count: blocks)
        gram.values.withUnsafeBufferPointer { h in
            partial.withUnsafeMutableBufferPointer { out in
                let hp = SendablePointer(base: UnsafeMutablePointer(mutating: h.baseAddress!))
                let dp = SendablePointer(base: UnsafeMutablePointer(mutating: delta.baseAddress!))
                let op = SendablePointer(base: out.baseAddress!)
                parallelBlocks(count: blocks, blockSize: 1, threads: d >= 512 ? threads : 1) { range in
                    for b in range {
                        var sum = 0.0
                        for i in (b * blockRows)..<Swift.min(d, (b + 1) * blockRows) {
                            let row = hp.base + i * d
                            var off0 = 0.0, off1 = 0.0
                            var j = i + 1
                            while j + 1 < d {
                                off0 += row[j] * dp.base[j]
                                off1 += row[j + 1] * dp.base[j + 1]
                                j += 2
                            }
                            if j < d { off0 += row[j] * dp.base[j] }
                            let di = dp.base[i]
                            sum += di * (row[i] * di + 2 * (off0 + off1))
                        }
                        op.base[b] = sum
                    }
                }
            }
        }
        return partial.reduce(0, +)
    }
}
