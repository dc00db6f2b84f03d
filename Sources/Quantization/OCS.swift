/// A conv layer's weights after outlier channel splitting (before quantization).
///
/// Layout: `expandedWeights` is `W' [C_out, C_in + s, kh, kw]` row-major (PyTorch order). Expanded input
/// channel `t` reads original input channel `inputChannelMap[t]`: the first `C_in` entries are the identity,
/// the `s` appended channels are copies. The layer computes the same function as the original when its input
/// is expanded the same way, `x'_t = x_{inputChannelMap[t]}`.
public struct OCSSplit: Sendable, Equatable {
    public let outputChannels: Int
    public let inputChannels: Int
    /// `kh · kw`.
    public let kernelSize: Int
    /// `[C_in + s]`.
    public let inputChannelMap: [Int]
    /// `W' [C_out, C_in + s, kh, kw]`.
    public let expandedWeights: [Float]

    /// Number of split (appended) channels, `s`.
    public var splits: Int { inputChannelMap.count - inputChannels }
    /// `(C_in + s) · kh · kw`, the row length of the expanded weight matrix.
    public var expandedDimension: Int { inputChannelMap.count * kernelSize }

    /// `x' [C_in + s, P]` from `x [C_in, P]` (any per-channel payload of `P` values, e.g. `H·W` pixels).
    public func expandInput(_ x: [Float], valuesPerChannel p: Int) -> [Float] {
        precondition(x.count == inputChannels * p, "x must be [C_in, P]")
        var out = [Float]()
        out.reserveCapacity(inputChannelMap.count * p)
        for source in inputChannelMap { out.append(contentsOf: x[source * p..<(source + 1) * p]) }
        return out
    }
}

/// One layer quantized with OCS.
public struct OCSLayerResult: Sendable {
    public let split: OCSSplit
    /// Quantized expanded weights, `C_out` channels of dimension `(C_in + s)·kh·kw`, one point each.
    public let quantized: QuantizedWeights
    /// Fake-quant weights folded back onto the original input channels, `[C_out, C_in, kh, kw]`: the
    /// quantized values of all copies of input channel `j` summed (`ŵ_{c,j} = s_c Σ_{t→j} q_{c,t}`). This is
    /// the float layer equal to the split quantized layer, used to score mAP.
    public let foldedWeights: [Float]
    /// False when the layer was not split (grouped/depthwise conv, see `OCS`); it is then plain RTN/MSE.
    public let applied: Bool

    /// `C_out · C_in · kh · kw`, the original weight count (the accounting's denominator).
    public var originalWeightCount: Int { split.outputChannels * split.inputChannels * split.kernelSize }
    /// `b · C_out · (C_in + s) · kh · kw`.
    public var codeBits: Int { quantized.grid.bits * quantized.channels * quantized.dimension }
    /// `b · (C_in + s) / C_in`, comparable with multipoint's average weight bits.
    public var averageWeightBits: Double { Double(codeBits) / Double(originalWeightCount) }
    /// `s / C_in`: the split layer does `(C_in + s)/C_in` times the MACs.
    public var extraMACs: Double { Double(split.splits) / Double(split.inputChannels) }
    /// Packed codes, fp32 scales (one per output channel) and `floatParameters` fp32 values (e.g. the bias).
    public func bytes(floatParameters: Int = 0) -> Int {
        (codeBits + 7) / 8 + 4 * quantized.channels + 4 * floatParameters
    }
}

/// Outlier channel splitting (Zhao et al., ICML 2019), weight side, as a baseline at equal size.
///
/// Splitting input channel `j` of a conv duplicates the input channel and halves column `j` of every output
/// channel's weights in both copies: `w x = (w/2) x + (w/2) x`, so the split layer is the same function
/// (halving is exact in floating point). Repeating on the channel that holds the layer's current largest
/// `|w|` (ties: lowest expanded channel index; a copy may be split again) shrinks the weight range, so the
/// per-output-channel scale of the following RTN quantization gets finer for the channels that held outliers.
/// This is the paper's plain split (halving); the paper's "quantization-aware" split variant is not offered.
///
/// **Equal size.** The expand ratio is `s / C_in` split channels per layer, matched to multipoint's extra
/// channels: multipoint at average bits `B` with `b`-bit points has extra fraction `f = B/b - 1`
/// (`extraFraction(matchingAverageBits:bits:)`), and OCS splits `s = floor(f · C_in)` input channels, so its
/// average bits `b (C_in + s)/C_in ≤ B` and extra MACs `s/C_in ≤ f`.
///
/// **Grouped and depthwise convs** (`groups > 1`) are not split: duplicating an input channel would add a
/// channel to one group only (not a grouped conv any more), and for depthwise convs it duplicates the whole
/// one-channel group, i.e. splits the output channel into two halves that must be summed — with a
/// per-output-channel scale the halves quantize exactly like the original, so nothing is gained. Such layers
/// are quantized with plain RTN/MSE (`applied == false`, `s = 0`); their share of the budget is unused.
public enum OCS {
    /// `f = averageBits / bits - 1`: the extra fraction of multipoint at that budget (≥ 0).
    public static func extraFraction(matchingAverageBits averageBits: Double, bits: Int) throws -> Double {
        guard averageBits.isFinite, averageBits >= Double(bits) else {
            throw QuantizationError.budgetBelowMinimum(requested: averageBits, minimum: Double(bits))
        }
        return averageBits / Double(bits) - 1
    }

    /// `s = floor(f · C_in)` (with a 1e-9 guard so that e.g. `0.0625 · 32` gives 2 despite rounding).
    public static func splitCount(inputChannels: Int, extraFraction f: Double) throws -> Int {
        guard f.isFinite, f >= 0 else {
            throw QuantizationError.invalidShape("OCS extra fraction must be a finite number ≥ 0, got \(f)")
        }
        return Int((f * Double(inputChannels) + 1e-9).rounded(.down))
    }

    /// Splits `splits` input channels of `W [C_out, C_in, kh, kw]` (largest `|w|` first).
    /// - Throws: `QuantizationError.invalidShape` / `.nonFiniteWeights` on bad input.
    public static func split(weights: [Float], outputChannels: Int, inputChannels: Int, kernelSize: Int,
                             splits: Int) throws -> OCSSplit {
        guard outputChannels >= 1, inputChannels >= 1, kernelSize >= 1, splits >= 0,
              weights.count == outputChannels * inputChannels * kernelSize else {
            throw QuantizationError.invalidShape("OCS weights have \(weights.count) values, expected "
                + "\(outputChannels) × \(inputChannels) × \(kernelSize) (and splits ≥ 0)")
        }
        try WeightQuantizer.validate(weights: weights, channels: outputChannels,
                                     dimension: inputChannels * kernelSize)
        let k = kernelSize
        // Column-major by input channel while splitting: columns[t] = W[:, t, :] as [C_out · k].
        var columns: [[Float]] = (0..<inputChannels).map { j in
            var column = [Float](repeating: 0, count: outputChannels * k)
            for o in 0..<outputChannels {
                for i in 0..<k { column[o * k + i] = weights[(o * inputChannels + j) * k + i] }
            }
            return column
        }
        var map = Array(0..<inputChannels)
        var peak = columns.map { $0.reduce(Float(0)) { Swift.max($0, Swift.abs($1)) } }
        for _ in 0..<splits {
            var target = 0
            for t in 1..<peak.count where peak[t] > peak[target] { target = t }
            for i in 0..<columns[target].count { columns[target][i] *= 0.5 }
            peak[target] *= 0.5
            columns.append(columns[target])
            peak.append(peak[target])
            map.append(map[target])
        }
        let expanded = map.count
        var out = [Float](repeating: 0, count: outputChannels * expanded * k)
        for (t, column) in columns.enumerated() {
            for o in 0..<outputChannels {
                for i in 0..<k { out[(o * expanded + t) * k + i] = column[o * k + i] }
            }
        }
        return OCSSplit(outputChannels: outputChannels, inputChannels: inputChannels, kernelSize: k,
                        inputChannelMap: map, expandedWeights: out)
    }

    /// Splits (for `groups == 1`) and quantizes a conv layer per output channel.
    /// - Parameters:
    ///   - weights: `W [C_out, C_in/groups, kh, kw]` row-major.
    ///   - inputChannels: `C_in / groups`, the weight's second axis.
    ///   - extraFraction: `f`, see `extraFraction(matchingAverageBits:bits:)`.
    ///   - method: `.rtn` (OCS's baseline quantizer) or `.mse`.
    /// - Throws: `QuantizationError` on bad shapes, a negative fraction or a multipoint method.
    public static func quantize(weights: [Float], outputChannels: Int, inputChannels: Int, kernelSize: Int,
                                groups: Int, extraFraction: Double, grid: QuantGrid, method: WeightMethod = .rtn,
                                threads: Int = defaultQuantizationThreads) throws -> OCSLayerResult {
        guard method == .rtn || method == .mse else {
            throw QuantizationError.invalidShape("OCS quantizes with rtn or mse, not \(method)")
        }
        guard groups >= 1 else { throw QuantizationError.invalidShape("groups must be ≥ 1, got \(groups)") }
        let splits = groups == 1 ? try splitCount(inputChannels: inputChannels, extraFraction: extraFraction) : 0
        let split = try self.split(weights: weights, outputChannels: outputChannels, inputChannels: inputChannels,
                                   kernelSize: kernelSize, splits: splits)
        let quantized = try WeightQuantizer.quantize(weights: split.expandedWeights, channels: outputChannels,
                                                     dimension: split.expandedDimension, grid: grid,
                                                     method: method, threads: threads)
        return OCSLayerResult(split: split, quantized: quantized, foldedWeights: fold(quantized, split: split),
                              applied: groups == 1)
    }

    /// `ŵ_{c,j,i} = s_c · Σ_{t : map[t] = j} q_{c,t,i}` (integer sum, one Float product: exact up to that one
    /// rounding), the formula the model file loader applies too.
    static func fold(_ q: QuantizedWeights, split: OCSSplit) -> [Float] {
        q.reconstructed(inputChannelMap: split.inputChannelMap, inputChannels: split.inputChannels,
                        kernelSize: split.kernelSize)
    }
}
