import Parallelism
/// The per-channel weight quantizers: the two baselines and fixed-count multipoint.
///
/// - `rtn`: round-to-nearest with the min-max scale `s = max_j |w_j| / M`, `q = round(w / s)` (no clipping
///   happens by construction). One point per channel.
/// - `mse`: the MSE-optimal clipping scale, `s* = argmin_s ||w - s·clip(round(w/s), -M, M)||²` (clip range
///   `s·M`), found **exactly** with the breakpoint sweep of `GreedyWorkspace` (not a grid search). This is
///   DESIGN's first greedy step, so `mse` is multipoint with `first: .mse` and `n_c = 1` everywhere;
///   `||w - ŵ_mse|| ≤ ||w - ŵ_rtn||` always, since RTN's scale is one candidate.
/// - `multipoint(points: n, first:)`: `n` points per channel, the first one by `first` (default: RTN's
///   min-max point, so one point is exactly `rtn`), then greedy steps on the residual (the allocation in
///   `MultipointAllocator` chooses `n_c` per channel instead).
public enum WeightMethod: Sendable, Equatable {
    case rtn
    case mse
    case multipoint(points: Int, first: MultipointFirstPoint = .minMax)
}

public enum WeightQuantizer {
    /// Quantizes a layer's weight matrix channel by channel.
    /// - Parameters:
    ///   - weights: `W [C, d]` row-major, one row per output channel.
    ///   - threads: workers; results are identical for any value.
    /// - Throws: `QuantizationError.invalidShape` / `.nonFiniteWeights` on bad input.
    public static func quantize(weights: [Float], channels: Int, dimension: Int, grid: QuantGrid,
                                method: WeightMethod,
                                threads: Int = defaultQuantizationThreads) throws -> QuantizedWeights {
        try validate(weights: weights, channels: channels, dimension: dimension)
        let n: Int
        let first: MultipointFirstPoint
        switch method {
        case .rtn, .mse: (n, first) = (1, .mse)
        case .multipoint(let points, let firstPoint):
            guard points >= 1 else { throw QuantizationError.invalidShape("multipoint needs ≥ 1 point, got \(points)") }
            (n, first) = (points, firstPoint)
        }
        var scales = [Float](repeating: 0, count: channels * n)
        var codes = [Int8](repeating: 0, count: channels * n * dimension)
        let block = Swift.max(1, 65_536 / Swift.max(dimension, 1))
        scales.withUnsafeMutableBufferPointer { sBuf in
            codes.withUnsafeMutableBufferPointer { cBuf in
                let sp = SendablePointer(base: sBuf.baseAddress!), cp = SendablePointer(base: cBuf.baseAddress!)
                weights.withUnsafeBufferPointer { wBuf in
                    let wp = SendablePointer(base: UnsafeMutablePointer(mutating: wBuf.baseAddress!))
                    parallelBlocks(count: channels, blockSize: block, threads: threads) { range in
                        let workspace = GreedyWorkspace(dimension: dimension, grid: grid)
                        for c in range {
                            let w = UnsafeBufferPointer(start: wp.base + c * dimension, count: dimension)
                            let out = UnsafeMutableBufferPointer(start: cp.base + c * n * dimension, count: n * dimension)
                            if method == .rtn {
                                sp.base[c] = roundToNearest(w, grid: grid, codes: out)
                            } else {
                                var channel = ChannelPoints(weights: w, first: first)
                                for _ in 0..<n { channel.addPoint(using: workspace) }
                                for i in 0..<n { sp.base[c * n + i] = channel.scales[i] }
                                for i in 0..<(n * dimension) { out[i] = channel.codes[i] }
                            }
                        }
                    }
                }
            }
        }
        return QuantizedWeights(channels: channels, dimension: dimension, grid: grid,
                                pointCounts: [Int](repeating: n, count: channels), scales: scales, codes: codes)
    }

    /// Per-channel min-max round-to-nearest: `s = max|w| / M` (fp32), `q = clip(round(w / s))`; returns `s`
    /// (0 for an all-zero channel, whose codes are all 0).
    public static func roundToNearest(_ w: UnsafeBufferPointer<Float>, grid: QuantGrid,
                                      codes: UnsafeMutableBufferPointer<Int8>) -> Float {
        var maxAbs: Float = 0
        for v in w { maxAbs = Swift.max(maxAbs, Swift.abs(v)) }
        let s = Float(Double(maxAbs) / Double(grid.maxLevel))
        guard s > 0 else {
            for j in 0..<w.count { codes[j] = 0 }
            return 0
        }
        for j in 0..<w.count { codes[j] = grid.code(Double(w[j]) / Double(s)) }
        return s
    }

    static func validate(weights: [Float], channels: Int, dimension: Int) throws {
        guard channels >= 1, dimension >= 1, weights.count == channels * dimension else {
            throw QuantizationError.invalidShape(
                "weights have \(weights.count) values, expected channels \(channels) × dimension \(dimension)")
        }
        for c in 0..<channels {
            for j in 0..<dimension where !weights[c * dimension + j].isFinite {
                throw QuantizationError.nonFiniteWeights(channel: c)
            }
        }
    }
}
