extension MixedPrecision {
    /// The fast sensitivity table for mixed precision when no measured one (`sensitivity.json`) is given: per
    /// layer and width, the relative output error `Σ_c δ_cᵀ H δ_c / Σ_c w_cᵀ H w_c` of that layer alone
    /// quantized with `method` at that width, from the calibration Gram matrices. It needs no forward pass and
    /// ignores how errors propagate through later layers (which the mAP-based `mpq sensitivity` report
    /// captures); every layer counts equally whatever its size, the usual layer-wise proxy (`-10 log10` of it is
    /// the layer's output SQNR in dB).
    /// - Returns: layer name → width → cost.
    /// - Throws: `QuantizationError` for an unsupported width.
    public static func proxySensitivities(_ layers: [AllocationLayer], candidateBits: [Int],
                                          method: WeightMethod = .rtn,
                                          threads: Int = defaultQuantizationThreads) throws -> [String: [Int: Double]] {
        var table: [String: [Int: Double]] = [:]
        for layer in layers {
            var row: [Int: Double] = [:]
            for b in candidateBits {
                let q = try WeightQuantizer.quantize(weights: layer.weights, channels: layer.channels,
                                                     dimension: layer.dimension, grid: try QuantGrid(bits: b),
                                                     method: method, threads: threads)
                row[b] = OutputError.relative(layer, q, threads: threads)
            }
            table[layer.name] = row
        }
        return table
    }
}
