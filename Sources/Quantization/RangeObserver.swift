/// Accumulates an activation tensor's statistics over calibration batches in **one pass**.
///
/// Exact: count, min, max, number of exact zeros. Approximate: a histogram of the nonzero `|x|` with
/// `binCount` equal bins over `[0, R)`, where `R` is a power of two ≥ max |x| seen so far. When a batch
/// exceeds `R`, `R` doubles and adjacent bin pairs merge (an exact operation on the stored sums), so no
/// second pass is needed and the resolution stays between `R/2N` and `R/N` of the final range. Each bin
/// keeps the count, `Σ|x|` and `Σx²` of its values, so clipping errors above a bin edge are exact.
///
/// Only `|x|` matters: the symmetric grid is symmetric, and the unsigned grid is used only when `min ≥ 0`.
public struct RangeObserver: Sendable {
    public static let defaultBinCount = 2048

    public private(set) var count = 0
    public private(set) var minimum = Float.infinity
    public private(set) var maximum = -Float.infinity
    public private(set) var zeroCount = 0
    /// Histogram range `R` (0 until a nonzero value arrives).
    public private(set) var range = 0.0
    private var counts: [Double]
    private var sums: [Double]
    private var squares: [Double]

    public init(binCount: Int = RangeObserver.defaultBinCount) {
        precondition(binCount >= 2 && binCount % 2 == 0, "the bin count must be even")
        counts = [Double](repeating: 0, count: binCount)
        sums = counts
        squares = counts
    }

    public var binCount: Int { counts.count }
    /// True when every observed value is ≥ 0 (the unsigned grid applies).
    public var isNonNegative: Bool { minimum >= 0 }
    /// `max |x|` observed (0 before any nonzero value).
    public var maxAbs: Double { count == 0 ? 0 : Double(Swift.max(Swift.abs(minimum), Swift.abs(maximum))) }

    /// Adds one batch of values (any layout; non-finite values are ignored).
    public mutating func observe<C: Collection>(_ values: C) where C.Element == Float {
        var batchMax = 0.0
        for v in values where v.isFinite {
            count += 1
            minimum = Swift.min(minimum, v)
            maximum = Swift.max(maximum, v)
            batchMax = Swift.max(batchMax, Double(Swift.abs(v)))
        }
        if batchMax > 0 { grow(toCover: batchMax) }
        let n = binCount
        let perBin = Double(n) / range
        for v in values where v.isFinite {
            if v == 0 { zeroCount += 1; continue }
            let a = Double(Swift.abs(v))
            let i = Swift.min(n - 1, Int(a * perBin))
            counts[i] += 1
            sums[i] += a
            squares[i] += a * a
        }
    }

    private mutating func grow(toCover value: Double) {
        if range == 0 {
            range = 1
            while range < value { range *= 2 }
            while range / 2 >= value { range /= 2 }
            return
        }
        let n = binCount
        while range < value {
            // Doubling R: new bin i = old bins 2i and 2i+1.
            for i in 0..<(n / 2) {
                counts[i] = counts[2 * i] + counts[2 * i + 1]
                sums[i] = sums[2 * i] + sums[2 * i + 1]
                squares[i] = squares[2 * i] + squares[2 * i + 1]
            }
            for i in (n / 2)..<n { counts[i] = 0; sums[i] = 0; squares[i] = 0 }
            range *= 2
        }
    }

    /// The clip chosen by `method` for a `bits`-bit grid (signed or unsigned as `isNonNegative` says).
    public func clip(_ method: ActivationCalibration, bits: Int) throws -> Double {
        guard QuantGrid.supportedBits.contains(bits) else { throw QuantizationError.unsupportedBits(bits) }
        let top = maxAbs
        guard top > 0 else { return 0 }
        switch method {
        case .minMax:
            return top
        case .percentile(let p):
            guard p > 0, p <= 100, p.isFinite else { throw QuantizationError.invalidPercentile(p) }
            return percentileClip(p, top: top)
        case .mse:
            return mseClip(bits: bits, top: top)
        }
    }

    /// The fake quantizer for `bits` with the clip of `method`.
    public func quantizer(_ method: ActivationCalibration, bits: Int = 8) throws -> ActivationQuantizer {
        try ActivationQuantizer(bits: bits, clip: Float(clip(method, bits: bits)), unsigned: isNonNegative)
    }

    private func percentileClip(_ p: Double, top: Double) -> Double {
        let target = p / 100 * Double(count)
        var cumulative = Double(zeroCount)
        if cumulative >= target { return 0 }
        let width = range / Double(binCount)
        for i in 0..<binCount where counts[i] > 0 {
            if cumulative + counts[i] >= target {
                let inside = (target - cumulative) / counts[i]
                return Swift.min(top, (Double(i) + inside) * width)
            }
            cumulative += counts[i]
        }
        return top
    }

    /// Minimises, over clips `c` at the bin edges below `max|x|` and `c = max|x|`, the expected error
    /// `Σ_{|x| ≥ c} (|x| - c)² + (#nonzero |x| < c) · s²/12` with `s = c / qmax`: clipped values contribute
    /// their exact clipping error (from the per-bin `Σ|x|`, `Σx²`), the rest the uniform rounding-noise model;
    /// exact zeros are on the grid and contribute nothing. Ties go to the smaller clip.
    private func mseClip(bits: Int, top: Double) -> Double {
        let qmax = Double(isNonNegative ? (1 << bits) - 1 : (1 << (bits - 1)) - 1)
        let width = range / Double(binCount)
        let nonzero = Double(count - zeroCount)
        var suffixCount = 0.0, suffixSum = 0.0, suffixSquares = 0.0
        var best = nonzero * (top / qmax) * (top / qmax) / 12      // c = max|x|: nothing clipped
        var bestClip = top
        for k in stride(from: binCount - 1, through: 1, by: -1) {
            suffixCount += counts[k]; suffixSum += sums[k]; suffixSquares += squares[k]
            let c = Double(k) * width
            guard c < top else { continue }
            let s = c / qmax
            let error = (suffixSquares - 2 * c * suffixSum + c * c * suffixCount)
                + (nonzero - suffixCount) * s * s / 12
            if error <= best { best = error; bestClip = c }
        }
        return bestClip
    }
}
