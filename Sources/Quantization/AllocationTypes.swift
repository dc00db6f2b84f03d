/// One quantizable layer as the allocator sees it: its weights and the Gram matrices of its input.
///
/// `weights` is `W [C, d]` row-major (`d = in/groups·kh·kw`). With `G = grams.count` groups, channel `c`
/// belongs to group `g(c) = c / (C/G)` (PyTorch's grouped-conv layout; depthwise: `G = C`, `d = kh·kw`), and
/// its output error is `e_c = (w_c - ŵ_c)ᵀ H_g(c) (w_c - ŵ_c)`.
public struct AllocationLayer: Sendable {
    public let name: String
    public let weights: [Float]
    public let channels: Int
    public let dimension: Int
    public let grams: [GramMatrix]
    /// Output positions of the conv (`H_out · W_out` on the network's input size): one stored row costs
    /// `dimension · outputPositions` multiply-adds per image. Used when the budget counts MACs
    /// (`AllocationCost.macs`); 1 when unknown.
    public var outputPositions: Int = 1

    /// - Throws: `QuantizationError.invalidShape` / `.nonFiniteWeights` on inconsistent input.
    public init(name: String, weights: [Float], channels: Int, dimension: Int, grams: [GramMatrix]) throws {
        try WeightQuantizer.validate(weights: weights, channels: channels, dimension: dimension)
        guard !grams.isEmpty, channels % grams.count == 0 else {
            throw QuantizationError.invalidShape("\(name): \(grams.count) Gram matrices do not divide \(channels) channels")
        }
        guard grams.allSatisfy({ $0.dimension == dimension }) else {
            throw QuantizationError.invalidShape("\(name): Gram matrices must be \(dimension) × \(dimension)")
        }
        self.name = name
        self.weights = weights
        self.channels = channels
        self.dimension = dimension
        self.grams = grams
    }

    /// A depthwise layer (one group per channel, several channels).
    public var isDepthwise: Bool { channels > 1 && grams.count == channels }

    /// Group index of channel `c`.
    @inline(__always) func group(of c: Int) -> Int { c / (channels / grams.count) }
}

/// When the allocator stops adding points.
public enum AllocationBudget: Sendable, Equatable {
    /// Give points until the model's average bits reach this target (never exceeded; stops when no further
    /// point fits). Must be ≥ the one-point minimum (the weight bit width).
    case averageBits(Double)
    /// Give each channel points until its relative output error `e_c / (w_cᵀ H w_c)` is ≤ this threshold
    /// (or it has `maxPointsPerChannel` points).
    case maxRelativeError(Double)
    /// The paper's threshold (`--max-error`, default scope): per layer, give points (largest output-error
    /// reduction first) until the layer's relative output error `Σ_c e_c / Σ_c E_c` is ≤ this threshold (or no
    /// channel can improve). See `ThresholdAllocation`.
    case maxLayerError(Double)
}

/// What one point costs in the budget of `MultipointAllocator` (`--cost`).
public enum AllocationCost: String, Sendable, CaseIterable, Codable {
    /// Weight bits: a point of channel `c` costs `b · d` bits, and `--avg-bits` is the storage average
    /// `b · Σ n_c d / Σ C d` (DESIGN's definition; what the file size follows).
    case weights
    /// Multiply-adds: a point costs `b · d · P_l` (`P_l` the layer's output positions), so `--avg-bits` is the
    /// MAC-weighted average `b · Σ_l P_l Σ_c n_c d / Σ_l P_l C d`, and the extra points' compute (what the int8
    /// engine pays) is `avg/b − 1` of the one-point model's. Points move from early high-resolution layers to
    /// deep ones.
    case macs
    /// Multiply-adds as the int8 engine executes them: like `macs`, but a layer's rows (one per point) are run in
    /// blocks of `AllocationOptions.rowBlock` (16: oneDNN's int8 convs on AVX-512 and AVX2 time a row count like
    /// the next multiple of 16, measured), so the extra point that opens a block pays for the whole block and the
    /// next ones in it are free. The allocator then fills blocks instead of leaving ragged row counts whose
    /// padding the engine computes anyway: the budget bounds the executed extra compute.
    case int8MACs = "int8-macs"
    /// The int8 engine's time, as a model calibrated on its profile (`AllocationTimeModel`): `int8-macs`, with a
    /// depthwise multiply-add costing `depthwiseMAC` dense ones and a depthwise layer's points run as levels
    /// (the point that opens level k pays a row for every channel, the layer's other level-k points are free),
    /// and the first extra point of a layer paying one pass over its output (`passPerElement` per element:
    /// the row sum of a dense layer, the quantize pass a depthwise layer's float levels need). The budget then
    /// bounds the engine's extra time, and layers either get enough points to pay for their pass or none.
    case int8Time = "int8-time"

    /// Whether each point's cost is weighted by its layer's output positions.
    public var countsMACs: Bool { self != .weights }
}

/// The constants of `AllocationCost.int8Time`, in dense int8 multiply-adds, from `mpq bench --profile` of
/// full-width mb2-ssd-lite w4a8 at one thread (AMD Zen 5, AVX-512 VNNI; docs/quantizer.md): dense 1x1 and 3x3
/// convs ran at ~244 G multiply-adds/s, depthwise convs (memory-bound) at ~30 G/s, and a pass over a float
/// tensor (quantize to u8, or sum rows) at ~6 G elements/s.
public enum AllocationTimeModel {
    /// Dense multiply-adds per depthwise multiply-add.
    public static let depthwiseMAC = 8
    /// Dense multiply-adds per element of a pass over a layer's output.
    public static let passPerElement = 40
}

/// Settings of `MultipointAllocator.allocate`.
public struct AllocationOptions: Sendable {
    public var grid: QuantGrid
    public var budget: AllocationBudget
    /// Hard cap on `n_c` (guarantees termination when a channel can never meet a threshold).
    public var maxPointsPerChannel: Int
    /// `false`: the budget counts weight bits only, `b·Σ n_c d_c / Σ d_c` (DESIGN's formula); `true`: each
    /// point also costs its fp32 scale, `(b·Σ n_c d_c + 32·Σ n_c) / Σ d_c`.
    public var countScaleBits: Bool
    /// Each channel's first point (default `.minMax`, RTN's point; `.mse` is DESIGN's greedy step verbatim).
    public var firstPoint: MultipointFirstPoint
    /// What a point costs: weight bits (default) or multiply-adds (`AllocationLayer.outputPositions`).
    public var cost: AllocationCost
    /// The int8 engine's row granularity that `AllocationCost.int8MACs` charges (16).
    public var rowBlock: Int
    public var threads: Int

    public init(grid: QuantGrid, budget: AllocationBudget, maxPointsPerChannel: Int = 16,
                countScaleBits: Bool = false, firstPoint: MultipointFirstPoint = .minMax,
                cost: AllocationCost = .weights, rowBlock: Int = 16, threads: Int = defaultQuantizationThreads) {
        self.cost = cost
        self.rowBlock = Swift.max(1, rowBlock)
        self.grid = grid
        self.budget = budget
        self.firstPoint = firstPoint
        self.maxPointsPerChannel = maxPointsPerChannel
        self.countScaleBits = countScaleBits
        self.threads = threads
    }
}

/// The allocator's result for one layer.
public struct LayerAllocation: Sendable {
    public let name: String
    public let weights: QuantizedWeights
    /// `e_c(n_c) = (w_c - ŵ_c)ᵀ H (w_c - ŵ_c)` per channel, `[C]`.
    public let channelErrors: [Double]
    /// `E_c = w_cᵀ H w_c` per channel, `[C]` (the channel's output energy).
    public let channelEnergies: [Double]

    /// `Σ_c e_c / Σ_c E_c` (0 for a layer with zero output energy).
    public var relativeOutputError: Double {
        let energy = channelEnergies.reduce(0, +)
        return energy > 0 ? channelErrors.reduce(0, +) / energy : 0
    }
}

/// The allocator's result for the model.
public struct AllocationResult: Sendable {
    public let layers: [LayerAllocation]
    /// Bits the budget allows (`floor(avgBits · Σ d_c)`), nil in threshold mode.
    public let budgetBits: Int?
    /// Bits used, counted like the budget (`b·Σ n_c d_c`, plus `32·Σ n_c` when scales are counted).
    public let usedBits: Int
}
