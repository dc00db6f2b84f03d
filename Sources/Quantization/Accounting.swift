/// Size and cost accounting of a quantized layer.
///
/// For a layer with `C` channels of length `d`, `n_c` points each at `b` bits:
/// - average weight bits `= b · Σ n_c d / (C d)` (DESIGN's definition),
/// - with scales `= (b · Σ n_c d + 32 · Σ n_c) / (C d)` (one fp32 scale per point),
/// - extra MACs `= Σ n_c d / (C d) - 1` (the common-operands layer has `Σ n_c` rows instead of `C`); over a
///   model the layers are weighted by their output positions `P` (`Σ P Σ n_c d / Σ P C d - 1`: true
///   multiply-adds per image), while `extraWeights` weights them by size (`Σ Σ n_c d / Σ C d - 1`),
/// - bytes `= ceil(b · Σ n_c d / 8) + 4 · Σ n_c + 4 · floatParameters` (codes packed at `b` bits, fp32 scales,
///   and the layer's float parameters such as the bias).
///
/// An outlier-channel-split layer stores rows of the expanded length `d' = (C_in + s)·k` (`dimension`) for a
/// float layer of `C · d` weights (`originalDimension = d`): its average bits are `b · d'/d` and its extra MACs
/// `d'/d - 1 = s / C_in`, the same definitions as multipoint's.
public struct LayerAccounting: Sendable, Equatable {
    public let name: String
    public let channels: Int
    /// Length of a stored code row.
    public let dimension: Int
    /// Length of a row of the float layer (`dimension` except for OCS).
    public let originalDimension: Int
    public let bits: Int
    /// Points per channel → number of channels with that many points.
    public let pointsHistogram: [Int: Int]
    /// `Σ n_c`.
    public let pointCount: Int
    /// Parameters kept in fp32 (bias), counted in `bytes`.
    public let floatParameters: Int
    /// Relative output error `Σ e_c / Σ E_c` when known (allocation with calibration data).
    public let relativeOutputError: Double?
    /// Output positions `H_out · W_out` on the network's input size, when known (true MAC counts).
    public let outputPositions: Int?

    public init(name: String, weights: QuantizedWeights, floatParameters: Int = 0, relativeOutputError: Double? = nil,
                originalDimension: Int? = nil, outputPositions: Int? = nil) {
        self.outputPositions = outputPositions
        self.name = name
        channels = weights.channels
        dimension = weights.dimension
        self.originalDimension = originalDimension ?? weights.dimension
        bits = weights.grid.bits
        pointsHistogram = weights.pointCounts.reduce(into: [:]) { $0[$1, default: 0] += 1 }
        pointCount = weights.pointCounts.reduce(0, +)
        self.floatParameters = floatParameters
        self.relativeOutputError = relativeOutputError
    }

    public init(allocation: LayerAllocation, floatParameters: Int = 0) {
        self.init(name: allocation.name, weights: allocation.weights, floatParameters: floatParameters,
                  relativeOutputError: allocation.relativeOutputError)
    }

    /// `C · d`, the float weight count.
    public var weightCount: Int { channels * originalDimension }
    /// `b · Σ n_c d`.
    public var codeBits: Int { bits * pointCount * dimension }
    public var averageWeightBits: Double { Double(codeBits) / Double(weightCount) }
    public var averageBitsWithScales: Double { Double(codeBits + 32 * pointCount) / Double(weightCount) }
    public var extraMACs: Double { Double(pointCount * dimension) / Double(weightCount) - 1 }
    /// Multiply-adds per image of the stored rows, `P · Σ n_c d` (`P` = 1 when unknown).
    public var macs: Int { (outputPositions ?? 1) * pointCount * dimension }
    /// Multiply-adds per image of the float layer, `P · C d`.
    public var floatMACs: Int { (outputPositions ?? 1) * weightCount }
    public var bytes: Int { (codeBits + 7) / 8 + 4 * pointCount + 4 * floatParameters }
}

/// Whole-model accounting: quantized layers plus parameters kept entirely in float (fp32, 4 bytes each).
///
/// `modelBytes = Σ_quantized layer.bytes + 4 · floatLayerParameters`; the averages are over quantized
/// weights only: `Σ_l b Σ n_c d_l / Σ_l C_l d_l` etc.
public struct ModelAccounting: Sendable, Equatable {
    public let layers: [LayerAccounting]
    public let floatLayerParameters: Int

    public init(layers: [LayerAccounting], floatLayerParameters: Int = 0) {
        self.layers = layers
        self.floatLayerParameters = floatLayerParameters
    }

    private var weightCount: Int { layers.reduce(0) { $0 + $1.weightCount } }

    public var pointsHistogram: [Int: Int] {
        layers.reduce(into: [:]) { total, layer in
            for (n, count) in layer.pointsHistogram { total[n, default: 0] += count }
        }
    }
    public var averageWeightBits: Double {
        Double(layers.reduce(0) { $0 + $1.codeBits }) / Double(Swift.max(weightCount, 1))
    }
    public var averageBitsWithScales: Double {
        Double(layers.reduce(0) { $0 + $1.codeBits + 32 * $1.pointCount }) / Double(Swift.max(weightCount, 1))
    }
    /// Extra multiply-adds per image over the float model's quantized layers (layers weighted by their output
    /// positions when known; by size otherwise, which is `extraWeights`).
    public var extraMACs: Double {
        Double(layers.reduce(0) { $0 + $1.macs }) / Double(Swift.max(layers.reduce(0) { $0 + $1.floatMACs }, 1)) - 1
    }
    /// Extra stored weights, `Σ Σ n_c d / Σ C d - 1` (layers weighted by size).
    public var extraWeights: Double {
        Double(layers.reduce(0) { $0 + $1.pointCount * $1.dimension }) / Double(Swift.max(weightCount, 1)) - 1
    }
    /// The MAC-weighted average weight bits, `Σ P b Σ n_c d / Σ P C d` (what `--cost macs` budgets).
    public var macAverageBits: Double {
        Double(layers.reduce(0) { $0 + $1.bits * $1.macs }) / Double(Swift.max(layers.reduce(0) { $0 + $1.floatMACs }, 1))
    }
    public var modelBytes: Int { layers.reduce(0) { $0 + $1.bytes } + 4 * floatLayerParameters }
}
