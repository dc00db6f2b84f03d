/// One conv of a model as the model-level baselines see it: the allocator's view (`W [C, d]` row-major and one
/// calibration Gram matrix `H_g = X_gᵀ X_g` per group) plus the conv geometry OCS needs.
///
/// `d = inputChannels · kernelSize` with `inputChannels = C_in / groups` (the weight's second axis) and
/// `kernelSize = kh · kw`.
public struct BaselineLayer: Sendable {
    public let layer: AllocationLayer
    public let inputChannels: Int
    public let kernelSize: Int
    public let groups: Int
    /// Parameters kept in fp32 (the folded bias), counted in the bytes.
    public let floatParameters: Int

    /// - Throws: `QuantizationError.invalidShape` when the geometry does not match the layer.
    public init(layer: AllocationLayer, inputChannels: Int, kernelSize: Int, groups: Int,
                floatParameters: Int = 0) throws {
        guard inputChannels >= 1, kernelSize >= 1, groups >= 1, inputChannels * kernelSize == layer.dimension,
              layer.grams.count == groups else {
            throw QuantizationError.invalidShape("\(layer.name): geometry \(inputChannels) × \(kernelSize) with "
                + "\(groups) groups does not match d = \(layer.dimension) and \(layer.grams.count) Gram matrices")
        }
        self.layer = layer
        self.inputChannels = inputChannels
        self.kernelSize = kernelSize
        self.groups = groups
        self.floatParameters = floatParameters
    }

    public var name: String { layer.name }
    public var weightCount: Int { layer.channels * layer.dimension }
}

/// One layer quantized by a model-level baseline: the fake-quant weights to install in the float conv and the
/// accounting in the same units as `LayerAccounting` (code bits over the original weight count).
public struct BaselineLayerResult: Sendable {
    public let name: String
    /// `Ŵ [C, d]` in the original layout (OCS: the split codes folded back, `OCSLayerResult.foldedWeights`), so
    /// the original conv computes exactly what the quantized (split) layer computes.
    public let weights: [Float]
    /// Point bit width of this layer.
    public let bits: Int
    /// Stored code bits (OCS: over the expanded matrix).
    public let codeBits: Int
    /// `C · d` of the original layer.
    public let weightCount: Int
    /// Extra MACs of this layer relative to the float layer (OCS: `s / C_in`; others 0).
    public let extraMACs: Double
    /// Bytes of codes + fp32 scales + fp32 bias (`floatParameters`).
    public let bytes: Int
    /// `Σ_c (w_c - ŵ_c)ᵀ H (w_c - ŵ_c) / Σ_c w_cᵀ H w_c` on the calibration data.
    public let relativeOutputError: Double
}

/// A whole model quantized by one baseline.
public struct BaselineModelResult: Sendable {
    public let layers: [BaselineLayerResult]

    /// `Σ code bits / Σ weights` over the quantized layers (same definition as `ModelAccounting`).
    public var averageWeightBits: Double {
        let weights = layers.reduce(0) { $0 + $1.weightCount }
        return Double(layers.reduce(0) { $0 + $1.codeBits }) / Double(Swift.max(weights, 1))
    }
    /// Weight-count-weighted extra MACs (same definition as `ModelAccounting.extraMACs`: extra weight MACs over
    /// float weight MACs per output position).
    public var extraMACs: Double {
        let weights = layers.reduce(0) { $0 + $1.weightCount }
        return layers.reduce(0) { $0 + $1.extraMACs * Double($1.weightCount) } / Double(Swift.max(weights, 1))
    }
    public var modelBytes: Int { layers.reduce(0) { $0 + $1.bytes } }
}

/// The equal-size baselines of issue 7 at model level — `gptq`, `ocs`, `mixed` — over the layers of a model
/// with their calibration Gram matrices. All methods return the fake-quant weights in the original layout.
///
/// **Budget semantics.** `gptq` (like `rtn`/`mse`) quantizes every layer at the point width `b` (average bits
/// exactly `b`); `ocs` spends the budget `B` on split channels (`OCS.extraFraction(matchingAverageBits:bits:)`,
/// average bits ≤ `B`); `mixed` picks one width per layer with `Σ n_l b_l ≤ floor(B Σ n_l)`.
public enum ModelBaselines {
    /// GPTQ on every layer at `bits` (MSE scales, act-order, 1% dampening — `GPTQOptions` defaults).
    public static func gptq(_ layers: [BaselineLayer], bits: Int,
                            threads: Int = defaultQuantizationThreads) throws -> BaselineModelResult {
        let grid = try QuantGrid(bits: bits)
        return BaselineModelResult(layers: try layers.map { item in
            let allocation = try GPTQ.quantize(layer: item.layer, options: GPTQOptions(grid: grid, threads: threads))
            return try result(item, weights: allocation.weights, floatParameters: item.floatParameters)
        })
    }

    /// RTN or MSE on every layer at `bits` (the reference the baselines are compared with).
    public static func uniform(_ layers: [BaselineLayer], bits: Int, method: WeightMethod,
                               threads: Int = defaultQuantizationThreads) throws -> BaselineModelResult {
        let grid = try QuantGrid(bits: bits)
        return BaselineModelResult(layers: try layers.map { item in
            let q = try WeightQuantizer.quantize(weights: item.layer.weights, channels: item.layer.channels,
                                                 dimension: item.layer.dimension, grid: grid, method: method,
                                                 threads: threads)
            return try result(item, weights: q, floatParameters: item.floatParameters)
        })
    }

    /// OCS with the split ratio `extraFraction` (see `OCS`), then RTN (OCS's own quantizer) at `bits`.
    /// Grouped/depthwise layers are not split (see `OCS`).
    public static func ocs(_ layers: [BaselineLayer], bits: Int, extraFraction: Double, method: WeightMethod = .rtn,
                           threads: Int = defaultQuantizationThreads) throws -> BaselineModelResult {
        let grid = try QuantGrid(bits: bits)
        return BaselineModelResult(layers: try layers.map { item in
            let r = try OCS.quantize(weights: item.layer.weights, outputChannels: item.layer.channels,
                                     inputChannels: item.inputChannels, kernelSize: item.kernelSize,
                                     groups: item.groups, extraFraction: extraFraction, grid: grid, method: method,
                                     threads: threads)
            return BaselineLayerResult(
                name: item.name, weights: r.foldedWeights, bits: bits, codeBits: r.codeBits,
                weightCount: r.originalWeightCount, extraMACs: r.extraMACs,
                bytes: r.bytes(floatParameters: item.floatParameters),
                relativeOutputError: relativeOutputError(item.layer, reconstructed: r.foldedWeights))
        })
    }

    /// The fast sensitivity proxy for `mixed`: per layer and width, the relative output error
    /// `Σ_c δ_cᵀ H δ_c / Σ_c w_cᵀ H w_c` of that layer alone quantized with `method` at that width, from the
    /// calibration Gram matrices (no forward pass; it ignores how errors propagate through later layers, which
    /// the mAP-based `mpq sensitivity` report captures). The costs are the plain relative errors, so every layer
    /// counts equally, whatever its size — the usual layer-wise proxy (`-10 log10` of it is the layer's output
    /// SQNR in dB).
    public static func proxySensitivities(_ layers: [BaselineLayer], candidateBits: [Int],
                                          method: WeightMethod = .mse,
                                          threads: Int = defaultQuantizationThreads) throws -> [String: [Int: Double]] {
        var table: [String: [Int: Double]] = [:]
        for item in layers {
            var row: [Int: Double] = [:]
            for b in candidateBits {
                let q = try WeightQuantizer.quantize(weights: item.layer.weights, channels: item.layer.channels,
                                                     dimension: item.layer.dimension, grid: try QuantGrid(bits: b),
                                                     method: method, threads: threads)
                row[b] = relativeOutputError(item.layer, reconstructed: q.reconstructed())
            }
            table[item.name] = row
        }
        return table
    }

    /// True per-layer mixed precision at average bits `averageBits`: widths from `MixedPrecision.allocate`
    /// over `sensitivities` (a layer name → width → cost table, e.g. the mAP drops of `sensitivity.json`;
    /// nil → `proxySensitivities`), then each layer quantized with `method` at its width.
    /// - Returns: the model and the allocation (widths per layer, budget used).
    public static func mixed(_ layers: [BaselineLayer], averageBits: Double, candidateBits: [Int] = Array(2...8),
                             sensitivities: [String: [Int: Double]]? = nil, method: WeightMethod = .mse,
                             threads: Int = defaultQuantizationThreads)
        throws -> (model: BaselineModelResult, allocation: MixedPrecisionResult) {
        let costs = try sensitivities
            ?? proxySensitivities(layers, candidateBits: candidateBits, method: method, threads: threads)
        let mpLayers = try layers.map { item -> MixedPrecisionLayer in
            guard let row = costs[item.name] else {
                throw QuantizationError.invalidShape("no sensitivity for layer \(item.name)")
            }
            return MixedPrecisionLayer(name: item.name, weightCount: item.weightCount, channels: item.layer.channels,
                                       costs: row)
        }
        let allocation = try MixedPrecision.allocate(mpLayers, averageBits: averageBits,
                                                     options: MixedPrecisionOptions(candidateBits: candidateBits))
        let results = try zip(layers, allocation.bits).map { item, b in
            let q = try WeightQuantizer.quantize(weights: item.layer.weights, channels: item.layer.channels,
                                                 dimension: item.layer.dimension, grid: try QuantGrid(bits: b),
                                                 method: method, threads: threads)
            return try result(item, weights: q, floatParameters: item.floatParameters)
        }
        return (BaselineModelResult(layers: results), allocation)
    }

    /// `Σ_c (w_c - ŵ_c)ᵀ H_g(c) (w_c - ŵ_c) / Σ_c w_cᵀ H_g(c) w_c` (0 when the output energy is 0).
    public static func relativeOutputError(_ layer: AllocationLayer, reconstructed: [Float]) -> Double {
        precondition(reconstructed.count == layer.weights.count, "reconstructed weights must be [C, d]")
        let c = layer.channels, d = layer.dimension, perGroup = c / layer.grams.count
        var error = 0.0, energy = 0.0
        for (g, gram) in layer.grams.enumerated() {
            let rows = g * perGroup..<(g + 1) * perGroup
            var deltas = [Double](repeating: 0, count: perGroup * d)
            var originals = [Double](repeating: 0, count: perGroup * d)
            for (i, row) in rows.enumerated() {
                for j in 0..<d {
                    let w = Double(layer.weights[row * d + j])
                    originals[i * d + j] = w
                    deltas[i * d + j] = w - Double(reconstructed[row * d + j])
                }
            }
            error += QuadraticForms.batch(deltas, count: perGroup, gram: gram).reduce(0, +)
            energy += QuadraticForms.batch(originals, count: perGroup, gram: gram).reduce(0, +)
        }
        return energy > 0 ? error / energy : 0
    }

    private static func result(_ item: BaselineLayer, weights q: QuantizedWeights,
                               floatParameters: Int) throws -> BaselineLayerResult {
        let accounting = LayerAccounting(name: item.name, weights: q, floatParameters: floatParameters)
        let w = q.reconstructed()
        return BaselineLayerResult(name: item.name, weights: w, bits: q.grid.bits, codeBits: accounting.codeBits,
                                   weightCount: accounting.weightCount, extraMACs: accounting.extraMACs,
                                   bytes: accounting.bytes,
                                   relativeOutputError: relativeOutputError(item.layer, reconstructed: w))
    }
}
