/// The value set of one channel's points for GPTQ's sequential rounding: `{Σ_i a_i k_i : k_i ∈ G_b}` for the
/// channel's fixed scales `a_1 … a_n` (n = 1: plain `a·G_b`).
///
/// `nearest` rounds one weight `v` into that set. One point: `k = clip(round(v / a))`, the exact nearest.
/// Several points (greedy scales shrink fast, `a_{i+1} ≲ a_i / 2`): the first code is tried at
/// `round(v / a_1)` and its two neighbours, the later codes are rounded greedily on the remainder
/// (`k_i = clip(round(r / a_i))`, `r -= a_i k_i`), and the closest of the three sums wins (first on ties).
/// Not always the exact nearest of the `(2M+1)^n` sums, but never worse than the greedy decomposition.
final class PointCodebook {
    let grid: QuantGrid
    private var trial: [Int8] = []
    private var best: [Int8] = []

    init(grid: QuantGrid) { self.grid = grid }

    /// Writes the codes of the chosen value to `codes[firstIndex + i·stride]`, `i < n`, and returns
    /// `Σ a_i k_i` (summed in point order, in Double).
    func nearest(_ v: Double, scales: [Double], codes: UnsafeMutablePointer<Int8>, firstIndex: Int,
                 stride: Int) -> Double {
        let n = scales.count
        if n == 1 {
            let a = scales[0]
            let k: Int8 = a > 0 ? grid.code(v / a) : 0
            codes[firstIndex] = k
            return a * Double(k)
        }
        if trial.count < n { trial = [Int8](repeating: 0, count: n); best = trial }
        let m = grid.maxLevel
        let center = scales[0] > 0 ? Int(grid.code(v / scales[0])) : 0
        var bestValue = 0.0, bestDistance = Double.infinity
        for first in [center, center - 1, center + 1] where first >= -m && first <= m {
            trial[0] = Int8(first)
            var remainder = v - scales[0] * Double(first)
            for i in 1..<n {
                let k: Int8 = scales[i] > 0 ? grid.code(remainder / scales[i]) : 0
                trial[i] = k
                remainder -= scales[i] * Double(k)
            }
            var value = 0.0
            for i in 0..<n { value += scales[i] * Double(trial[i]) }
            let distance = Swift.abs(v - value)
            if distance < bestDistance {
                bestDistance = distance
                bestValue = value
                for i in 0..<n { best[i] = trial[i] }
            }
        }
        for i in 0..<n { codes[firstIndex + i * stride] = best[i] }
        return bestValue
    }
}

extension GPTQ {
    /// Experiment: multipoint with GPTQ-style rounding of each point.
    ///
    /// Keeps the point counts `n_c` and the scales of a multipoint result (e.g. `MultipointAllocator` or
    /// `WeightQuantizer .multipoint`) and re-chooses all codes by GPTQ's sequential sweep (see `GPTQ`), where
    /// each weight is rounded into its channel's value set `{Σ_i a_i k_i}` (`PointCodebook`) and the rounding
    /// error is spread onto the columns not yet quantized. The result has the same size and cost as the input
    /// (same `n_c`, same scales), so it compares with plain multipoint at equal points.
    /// - Parameters:
    ///   - layer: the weights and per-group `H` the multipoint result was computed for.
    ///   - points: that result (`channels`/`dimension` must match the layer; the grid is taken from it).
    ///   - options: GPTQ settings; `grid` and `scaleRule` are ignored (the points fix both).
    /// - Throws: `QuantizationError.invalidShape` on mismatched shapes, bad options or a Hessian that is not
    ///   positive definite after dampening.
    public static func refine(layer: AllocationLayer, points: QuantizedWeights,
                              options: GPTQOptions) throws -> LayerAllocation {
        guard points.channels == layer.channels, points.dimension == layer.dimension else {
            throw QuantizationError.invalidShape("\(layer.name): points are \(points.channels) × \(points.dimension), "
                + "the layer is \(layer.channels) × \(layer.dimension)")
        }
        var settings = options
        settings.grid = points.grid
        try validate(settings)
        return try sweep(layer: layer, pointCounts: points.pointCounts, scales: points.scales, options: settings)
    }
}
