import Parallelism
import COpenBLAS

/// How GPTQ picks each channel's (static) scale before the sequential rounding.
public enum GPTQScaleRule: String, Sendable, CaseIterable {
    /// RTN's min-max scale `s_c = max_j |w_cj| / M` of the original row (GPTQ's published default).
    case minMax = "minmax"
    /// The exact MSE-optimal clipping scale of the original row (the `mse` baseline's scale). The default:
    /// on 20 seeded 16 × 36 layers with correlated inputs (act-order) it gave 0.51×, 0.84× and 0.98× the
    /// output error of `minMax` at 2, 3 and 4 bits, so it is the stronger baseline.
    case mse
}

/// Settings of `GPTQ.quantize`.
public struct GPTQOptions: Sendable {
    public var grid: QuantGrid
    public var scaleRule: GPTQScaleRule
    /// Dampening `λ = dampening · mean(diag H)` added to the diagonal (GPTQ's `percdamp`, default 1%).
    public var dampening: Double
    /// Columns per lazy batch; the trailing columns are updated once per block with one GEMM.
    public var blockSize: Int
    /// Process the columns in order of decreasing `H_jj` (GPTQ's "act-order", default) instead of `0..<d`.
    public var actOrder: Bool
    public var threads: Int

    public init(grid: QuantGrid, scaleRule: GPTQScaleRule = .mse, dampening: Double = 0.01,
                blockSize: Int = 128, actOrder: Bool = true, threads: Int = defaultQuantizationThreads) {
        self.grid = grid
        self.scaleRule = scaleRule
        self.dampening = dampening
        self.blockSize = blockSize
        self.actOrder = actOrder
        self.threads = threads
    }
}

/// GPTQ (Frantar et al. 2022, the fast form of OBQ): Hessian-based sequential rounding of a layer.
///
/// For the channels of one group (`W [C_g, d]`, `H = Xᵀ X [d, d]` of that group's input, see `GramMatrix`)
/// the layer-output error `Σ_c (w_c - ŵ_c)ᵀ H (w_c - ŵ_c)` is reduced by quantizing the columns one at a
/// time and moving each column's rounding error onto the columns not yet quantized, optimally for `H`:
///
/// 1. Dead inputs: `H_jj = 0` → set `H_jj = 1` and `w_·j = 0` (that input never varies, so its weight
///    is irrelevant to the output error; zero is exactly representable).
/// 2. Dampening: `H += λ I`, `λ = dampening · mean(diag H)` (keeps `H` well conditioned).
/// 3. `U = cholesky(H⁻¹, upper)`, i.e. `H⁻¹ = Uᵀ U` (see `Cholesky.upperFactorOfInverse`).
/// 4. Per-channel scales `s_c` from the **original** rows (`scaleRule`), fixed (static) during the sweep,
///    so the codes are `q_cj = clip(round(w'_cj / s_c), -M, M)` on the symmetric grid `G_b`.
/// 5. For column `j` in order (blocks of `blockSize`): `e_c = (w'_cj - s_c q_cj) / U_jj`, then
///    `w'_ck -= e_c U_jk` for the later columns `k` of the block; after the block, the columns to its right
///    get `W'[:, right] -= E · U[block, right]` in one GEMM ("lazy batch" update, same result).
///
/// With `actOrder` (default), the columns are processed in order of decreasing `H_jj` (ties by index), the
/// usual improvement; the output is permuted back. Defaults: MSE-clipping scales, act-order, 1% dampening,
/// blocks of 128. Rounding is this module's (ties half away from zero; PyTorch's reference rounds half to
/// even, which only differs on exact ties). The result has one point per channel (`QuantizedWeights` with
/// `n_c = 1`), so accounting is shared with RTN/MSE/multipoint (`LayerAccounting(allocation:)`).
///
/// Given `U`, the channels are independent, so fixed blocks of 16 rows are swept in parallel (the partition
/// depends only on `C`; OpenBLAS single-threaded as everywhere in this module): identical results for any
/// thread count. Cost per group: `O(d³)` for `U` plus `O(C d²)` for the sweep.
public enum GPTQ {
    /// Quantizes a layer (all its groups) with GPTQ.
    /// - Parameters:
    ///   - layer: weights `W [C, d]` and one `H` per group (channel `c` uses `H_{c / (C/G)}`), as the allocator.
    /// - Returns: the quantized weights with per-channel output errors `e_c` and energies `w_cᵀ H w_c` measured
    ///   with the undamped `H` of the calibration data.
    /// - Throws: `QuantizationError.invalidShape` for a bad option or a Hessian that is not positive definite
    ///   even after dampening.
    public static func quantize(layer: AllocationLayer, options: GPTQOptions) throws -> LayerAllocation {
        try validate(options)
        let scales = staticScales(layer.weights, channels: layer.channels, dimension: layer.dimension,
                                  options: options)
        return try sweep(layer: layer, pointCounts: [Int](repeating: 1, count: layer.channels), scales: scales,
                         options: options)
    }

    static func validate(_ options: GPTQOptions) throws {
        guard options.blockSize >= 1 else {
            throw QuantizationError.invalidShape("GPTQ block size must be ≥ 1, got \(options.blockSize)")
        }
        guard options.dampening.isFinite, options.dampening >= 0 else {
            throw QuantizationError.invalidShape(
                "GPTQ dampening must be a finite number ≥ 0, got \(options.dampening)")
        }
    }

    /// The sequential rounding with fixed per-point scales (channel-major rows as in `QuantizedWeights`): each
    /// group of channels is swept with its own `H`; returns codes for those scales.
    static func sweep(layer: AllocationLayer, pointCounts: [Int], scales: [Float],
                      options: GPTQOptions) throws -> LayerAllocation {
        let c = layer.channels, d = layer.dimension, groups = layer.grams.count, perGroup = c / groups
        var offsets = [Int](repeating: 0, count: c + 1)
        for row in 0..<c { offsets[row + 1] = offsets[row] + pointCounts[row] }
        var codes = [Int8](repeating: 0, count: offsets[c] * d)
        var errors = [Double](repeating: 0, count: c)
        var energies = [Double](repeating: 0, count: c)
        for g in 0..<groups {
            let rows = g * perGroup..<(g + 1) * perGroup
            let pointScales = rows.map { row in scales[offsets[row]..<offsets[row + 1]].map { Double($0) } }
            let result = try sweepGroup(weights: Array(layer.weights[rows.lowerBound * d..<rows.upperBound * d]),
                                        pointScales: pointScales, gram: layer.grams[g], options: options,
                                        name: layer.name)
            for (i, row) in rows.enumerated() {
                errors[row] = result.errors[i]
                energies[row] = result.energies[i]
            }
            codes.replaceSubrange(offsets[rows.lowerBound] * d..<offsets[rows.upperBound] * d, with: result.codes)
        }
        let weights = QuantizedWeights(channels: c, dimension: d, grid: options.grid, pointCounts: pointCounts,
                                       scales: scales, codes: codes)
        return LayerAllocation(name: layer.name, weights: weights, channelErrors: errors, channelEnergies: energies)
    }

    /// Convenience for one group: `W [C, d]` row-major with one `H [d, d]`.
    public static func quantize(weights: [Float], channels: Int, dimension: Int, gram: GramMatrix,
                                options: GPTQOptions) throws -> LayerAllocation {
        let layer = try AllocationLayer(name: "layer", weights: weights, channels: channels, dimension: dimension,
                                        grams: [gram])
        return try quantize(layer: layer, options: options)
    }

    private struct GroupResult {
        var codes: [Int8], errors: [Double], energies: [Double]
    }

    /// One group: `weights [c, d]`, `pointScales[row]` the row's point scales (one for plain GPTQ).
    private static func sweepGroup(weights: [Float], pointScales: [[Double]], gram: GramMatrix, options: GPTQOptions,
                                   name: String) throws -> GroupResult {
        QuadraticForms.pinBLAS()   // single-threaded OpenBLAS: parallelism is ours, in fixed blocks
        let d = gram.dimension, c = pointScales.count
        var offsets = [Int](repeating: 0, count: c + 1)
        for row in 0..<c { offsets[row + 1] = offsets[row] + pointScales[row].count }

        // Steps 1-2: dead inputs and dampening on a copy of H.
        var h = gram.values
        var w = weights.map { Double($0) }
        var diagonalSum = 0.0
        for j in 0..<d {
            if h[j * d + j] == 0 {
                h[j * d + j] = 1
                for row in 0..<c { w[row * d + j] = 0 }
            }
            diagonalSum += h[j * d + j]
        }
        let damp = options.dampening * diagonalSum / Double(d)
        for j in 0..<d { h[j * d + j] += damp }

        // Act-order: permute columns of W and rows/columns of H by decreasing diag (stable).
        let order = options.actOrder
            ? (0..<d).sorted { h[$0 * d + $0] != h[$1 * d + $1] ? h[$0 * d + $0] > h[$1 * d + $1] : $0 < $1 }
            : Array(0..<d)
        if options.actOrder {
            h = permuted(h, rows: d, columns: d, rowOrder: order, columnOrder: order)
            w = permuted(w, rows: c, columns: d, rowOrder: Array(0..<c), columnOrder: order)
        }

        // Step 3.
        guard let u = Cholesky.upperFactorOfInverse(h, dimension: d, threads: options.threads) else {
            throw QuantizationError.invalidShape(
                "\(name): the calibration Hessian is not positive definite even after dampening "
                + "\(options.dampening); raise the dampening or use more calibration images")
        }

        // Steps 4-5, in permuted column order. Rows are independent given U, so fixed blocks of rows (a
        // partition that depends only on c) are swept in parallel: identical results for any thread count.
        var permutedCodes = [Int8](repeating: 0, count: offsets[c] * d)   // [Σn, d], columns permuted
        w.withUnsafeMutableBufferPointer { wBuf in
            permutedCodes.withUnsafeMutableBufferPointer { cBuf in
                u.withUnsafeBufferPointer { uBuf in
                    guard let wBase = wBuf.baseAddress, let cBase = cBuf.baseAddress, let uBase = uBuf.baseAddress
                    else { return }
                    let wp = SendablePointer(base: wBase), cp = SendablePointer(base: cBase)
                    let up = SendablePointer(base: UnsafeMutablePointer(mutating: uBase))
                    let offsets = offsets
                    parallelBlocks(count: c, blockSize: rowBlock, threads: options.threads) { rows in
                        sweepRows(rows, w: wp.base, codes: cp.base, u: up.base, dimension: d, offsets: offsets,
                                  pointScales: pointScales, grid: options.grid, blockSize: options.blockSize)
                    }
                }
            }
        }

        var codes = permutedCodes
        if options.actOrder {
            for r in 0..<offsets[c] { for (p, j) in order.enumerated() { codes[r * d + j] = permutedCodes[r * d + p] } }
        }
        // Output errors and energies with the undamped H and the original weights.
        let original = weights.map { Double($0) }
        var deltas = original
        for row in 0..<c {
            for (i, a) in pointScales[row].enumerated() {
                let base = (offsets[row] + i) * d
                for j in 0..<d { deltas[row * d + j] -= a * Double(codes[base + j]) }
            }
        }
        let errors = quadraticForms(deltas, count: c, gram: gram, threads: options.threads)
        let energies = quadraticForms(original, count: c, gram: gram, threads: options.threads)
        return GroupResult(codes: codes, errors: errors, energies: energies)
    }

    /// `QuadraticForms.batch` over fixed blocks of rows in parallel (same values for any thread count).
    private static func quadraticForms(_ rows: [Double], count m: Int, gram: GramMatrix, threads: Int) -> [Double] {
        let d = gram.dimension
        var out = [Double](repeating: 0, count: m)
        out.withUnsafeMutableBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            let op = SendablePointer(base: base)
            parallelBlocks(count: m, blockSize: rowBlock, threads: threads) { block in
                let part = QuadraticForms.batch(Array(rows[block.lowerBound * d..<block.upperBound * d]),
                                                count: block.count, gram: gram)
                for (i, v) in part.enumerated() { op.base[block.lowerBound + i] = v }
            }
        }
        return out
    }

    /// `out[i, j] = m[rowOrder[i], columnOrder[j]]` for a row-major `[rows, columns]` matrix.
    private static func permuted(_ m: [Double], rows: Int, columns: Int, rowOrder: [Int],
                                 columnOrder: [Int]) -> [Double] {
        var out = [Double](repeating: 0, count: rows * columns)
        m.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<rows {
                    let from = rowOrder[i] * columns, to = i * columns
                    for j in 0..<columns { dst[to + j] = src[from + columnOrder[j]] }
                }
            }
        }
        return out
    }

    /// Rows per parallel task of the sweep.
    private static let rowBlock = 16

    /// The column sweep for `rows` of `W' [c, d]` (permuted columns, updated in place) with `U [d, d]`;
    /// codes go to `codes [Σn, d]` at the rows' point offsets.
    private static func sweepRows(_ rows: Range<Int>, w: UnsafeMutablePointer<Double>, codes: UnsafeMutablePointer<Int8>,
                                  u: UnsafeMutablePointer<Double>, dimension d: Int, offsets: [Int],
                                  pointScales: [[Double]], grid: QuantGrid, blockSize: Int) {
        let codebook = PointCodebook(grid: grid)
        let m = rows.count
        var blockErrors = [Double](repeating: 0, count: m * blockSize)
        var start = 0
        while start < d {
            let end = Swift.min(start + blockSize, d), width = end - start
            blockErrors.withUnsafeMutableBufferPointer { ep in
                for j in start..<end {
                    let pivot = u[j * d + j]
                    let uRow = u + j * d
                    for (i, row) in rows.enumerated() {
                        let wRow = w + row * d
                        let value = wRow[j]
                        let quantized = codebook.nearest(value, scales: pointScales[row], codes: codes,
                                                         firstIndex: offsets[row] * d + j, stride: d)
                        let e = (value - quantized) / pivot
                        ep[i * width + (j - start)] = e
                        var k = j + 1
                        while k < end { wRow[k] -= e * uRow[k]; k += 1 }
                    }
                }
                if end < d {
                    // W'[rows, end...] -= E [m, width] · U[start..<end, end...]  (lazy batch update)
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(d - end), Int32(width),
                                -1, ep.baseAddress, Int32(width), u + start * d + end, Int32(d),
                                1, w + rows.lowerBound * d + end, Int32(d))
                }
            }
            start = end
        }
    }

    /// The per-channel scales of the original rows, `[C]` fp32 (0 for an all-zero row).
    private static func staticScales(_ weights: [Float], channels c: Int, dimension d: Int,
                                     options: GPTQOptions) -> [Float] {
        let method: WeightMethod = options.scaleRule == .minMax ? .rtn : .mse
        // `weights` were validated by `AllocationLayer`, so this cannot throw; fall back to min-max if it did.
        if let q = try? WeightQuantizer.quantize(weights: weights, channels: c, dimension: d, grid: options.grid,
                                                 method: method, threads: options.threads) {
            return q.scales
        }
        return (0..<c).map { row in
            let m = weights[row * d..<(row + 1) * d].reduce(Float(0)) { Swift.max($0, Swift.abs($1)) }
            return Float(Double(m) / Double(options.grid.maxLevel))
        }
    }
}
