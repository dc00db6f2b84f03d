import SSD
import Tensors

/// The weight method of `quantize(model:…)` (`--method`). Budget semantics (`ModelQuantizationOptions.budget`,
/// `--avg-bits B` on the `b`-bit grid): `multipoint`, `ocs` and `mixed` spend `B`; `rtn`, `mse` and `gptq` put
/// every weight at `b` bits.
public enum WeightQuantizationMethod: String, CaseIterable, Sendable, Codable {
    /// Per-channel min-max round-to-nearest.
    case rtn
    /// Per-channel MSE-optimal clipping (exact).
    case mse
    /// Multipoint (RTN's min-max first point, then exact greedy steps) with output-error-driven allocation
    /// (needs calibration Gram matrices).
    case multipoint
    /// Outlier channel splitting (`OCS`) with the split ratio matched to multipoint's extra channels at `B`,
    /// then per-channel RTN on the split layer.
    case ocs
    /// True per-layer mixed precision: one width per layer from `candidateBits` meeting `B` (`MixedPrecision`),
    /// costs from measured sensitivities or the Gram-matrix proxy; each layer per-channel min-max RTN at its
    /// width (on the demo RTN beats MSE clipping at every width: `notes/multipoint-first-point.md`).
    case mixed
    /// Hessian-based sequential rounding (`GPTQ`) with the calibration Gram matrices, at `b` bits.
    case gptq

    /// Whether `--avg-bits` is a budget this method spends.
    public var spendsBudget: Bool { self == .multipoint || self == .ocs || self == .mixed }
}

/// Settings of `quantize(model:…)`.
public struct ModelQuantizationOptions: Sendable {
    public var method: WeightQuantizationMethod
    public var weightBits: Int
    /// Activation bits; 32 keeps activations float.
    public var activationBits: Int
    public var activationCalibration: ActivationCalibration
    /// `.averageBits` for multipoint, ocs and mixed (nil: `weightBits`); `.maxRelativeError` for multipoint only.
    public var budget: AllocationBudget?
    public var maxPointsPerChannel: Int
    public var countScaleBits: Bool
    /// Mixed only: layer name → width → cost (e.g. `sensitivity.json`'s mAP drops); nil uses
    /// `MixedPrecision.proxySensitivities` on the calibration Gram matrices.
    public var sensitivities: [String: [Int: Double]]?
    /// Mixed only: the widths a layer may get.
    public var candidateBits: [Int]
    /// Multipoint only: each channel's first point (`--first-point`, default RTN's min-max point).
    public var firstPoint: MultipointFirstPoint
    /// Multipoint only: what the budget counts, weight bits (default) or multiply-adds (`--cost`).
    public var cost: AllocationCost
    public var threads: Int

    public init(method: WeightQuantizationMethod, weightBits: Int = 4, activationBits: Int = 8,
                activationCalibration: ActivationCalibration = .minMax, budget: AllocationBudget? = nil,
                maxPointsPerChannel: Int = 16, countScaleBits: Bool = false,
                sensitivities: [String: [Int: Double]]? = nil, candidateBits: [Int] = Array(2...8),
                firstPoint: MultipointFirstPoint = .minMax, cost: AllocationCost = .weights,
                threads: Int = defaultQuantizationThreads) {
        self.cost = cost
        self.method = method
        self.weightBits = weightBits
        self.activationBits = activationBits
        self.activationCalibration = activationCalibration
        self.budget = budget
        self.maxPointsPerChannel = maxPointsPerChannel
        self.countScaleBits = countScaleBits
        self.sensitivities = sensitivities
        self.candidateBits = candidateBits
        self.firstPoint = firstPoint
        self.threads = threads
    }

    public var quantizesActivations: Bool { activationBits < 32 }
}

/// One quantized conv: its codes, float bias, input quantizer and accounting.
public struct QuantizedLayer: Sendable {
    public let name: String
    /// `[O, C/groups, kh, kw]` of the original weight.
    public let weightShape: [Int]
    /// The stored points. For an OCS-split layer the rows run over the expanded input (`inputChannelMap`).
    public let weights: QuantizedWeights
    /// OCS: expanded input channel `t` reads input channel `inputChannelMap[t]`; nil when the layer is not split.
    public let inputChannelMap: [Int]?
    public let bias: [Float]
    public let activation: ActivationQuantizer?
    public let accounting: LayerAccounting

    /// The fake-quant weight in `weightShape` (OCS: the copies folded back), what the model runs and scores.
    public var reconstructedWeight: [Float] {
        weights.reconstructed(inputChannelMap: inputChannelMap, inputChannels: weightShape[1],
                              kernelSize: weightShape[2] * weightShape[3])
    }
}

/// A quantized SSD: the model with fake-quant weights installed, plus everything needed to save, report
/// and run it (the activation hook).
public struct QuantizedModel: Sendable {
    public let model: SSDModel
    public let layers: [QuantizedLayer]
    /// Layers kept in float (`--skip-layers`).
    public let floatLayers: [String]
    public let accounting: ModelAccounting

    /// The fake quantization of every quantized layer's input; nil when activations stay float. Pass it to
    /// `SSDModel.forward(…, quantization:)`, `Detector` or `ModelScoring` (both engines run it).
    public var inputQuantization: InputQuantization? {
        let quantizers = Dictionary(layers.compactMap { l in l.activation.map { (l.name, $0) } },
                                    uniquingKeysWith: { a, _ in a })
        guard !quantizers.isEmpty else { return nil }
        return CalibrationStatistics.inputQuantization(quantizers)
    }

    /// `inputQuantization` as a conv input hook (native engine only).
    public var activationHook: ConvInputHook? { inputQuantization?.hook }

    /// The model with every OCS layer executed in its split form (expanded input, expanded codes × scales):
    /// what an integer kernel runs. Equal to `model` up to float rounding.
    public func splitExecutionModel() throws -> SSDModel {
        var out = model
        for l in layers {
            guard let map = l.inputChannelMap else { continue }
            let expanded = [l.weightShape[0], map.count, l.weightShape[2], l.weightShape[3]]
            try out.splitInputChannels(named: l.name, weight: Tensor(shape: expanded, data: l.weights.reconstructed()),
                                       bias: l.bias, inputChannelMap: map)
        }
        return out
    }
}

/// The one entry point of weight (and activation) quantization: `mpq quantize`, `mpq compare`, the demo and
/// the sensitivity runs all go through `quantize(model:statistics:skip:options:)`.
public enum ModelQuantizer {
    /// Quantizes `model`'s convolutions (all but `skip`) with `options.method`.
    /// - Parameters:
    ///   - statistics: calibration statistics; Gram matrices are needed for multipoint, gptq and mixed without
    ///     given sensitivities (and give every method its relative output error), ranges for activation
    ///     quantization.
    /// - Throws: `QuantizationError` for bad settings or missing calibration data.
    public static func quantize(model: SSDModel, statistics: CalibrationStatistics?, skip: [String] = [],
                                options: ModelQuantizationOptions) throws -> QuantizedModel {
        if options.quantizesActivations && !QuantGrid.supportedBits.contains(options.activationBits) {
            throw QuantizationError.unsupportedBits(options.activationBits)
        }
        let (selected, kept) = try LayerSelection.split(model.quantizableLayers, skipping: skip)
        let positions = model.convOutputPositions()
        let views = try allocationLayers(selected, statistics: statistics)?.map { view -> AllocationLayer in
            var v = view
            v.outputPositions = positions[view.name] ?? 1
            return v
        }
        let results = try LayerMethods.quantize(selected, views: views, options: options)

        var quantizedModel = model
        var layers: [QuantizedLayer] = []
        for (l, r) in zip(selected, results) {
            let bias = l.conv.bias ?? [Float](repeating: 0, count: l.channels)
            var activation: ActivationQuantizer?
            if options.quantizesActivations {
                guard let observer = statistics?.ranges[l.name] else {
                    throw QuantizationError.missingCalibration("activation ranges of \(l.name)")
                }
                activation = try observer.quantizer(options.activationCalibration, bits: options.activationBits)
            }
            let layer = QuantizedLayer(
                name: l.name, weightShape: l.conv.weight.shape, weights: r.weights, inputChannelMap: r.inputChannelMap,
                bias: bias, activation: activation,
                accounting: LayerAccounting(name: l.name, weights: r.weights, floatParameters: l.biasCount,
                                            relativeOutputError: r.relativeOutputError,
                                            originalDimension: l.dimension, outputPositions: positions[l.name]))
            try quantizedModel.replaceConvolution(
                named: l.name, weight: Tensor(shape: l.conv.weight.shape, data: r.reconstructed), bias: bias)
            layers.append(layer)
        }
        let floatParameters = kept.reduce(0) { $0 + $1.conv.weight.count + $1.biasCount }
        return QuantizedModel(model: quantizedModel, layers: layers, floatLayers: kept.map(\.name),
                              accounting: ModelAccounting(layers: layers.map(\.accounting),
                                                          floatLayerParameters: floatParameters))
    }

    /// Mixed precision's proxy cost table for every conv of `model` (`MixedPrecision.proxySensitivities`), to
    /// compute once and pass as `sensitivities` when several budgets are quantized.
    /// - Throws: `QuantizationError.missingCalibration` without Gram matrices for every conv.
    public static func proxySensitivities(model: SSDModel, statistics: CalibrationStatistics,
                                          candidateBits: [Int] = Array(2...8),
                                          threads: Int = defaultQuantizationThreads) throws -> [String: [Int: Double]] {
        guard let views = try allocationLayers(model.quantizableLayers, statistics: statistics) else {
            throw QuantizationError.missingCalibration("Gram matrices (mixed precision's proxy)")
        }
        return try MixedPrecision.proxySensitivities(views, candidateBits: candidateBits, threads: threads)
    }

    /// The layers with their Gram matrices, nil unless calibration gave every one of them.
    static func allocationLayers(_ layers: [QuantizableLayer],
                                 statistics: CalibrationStatistics?) throws -> [AllocationLayer]? {
        let grams = statistics?.grams ?? [:]
        guard layers.allSatisfy({ grams[$0.name] != nil }) else { return nil }
        return try layers.map { l in
            try AllocationLayer(name: l.name, weights: l.weights, channels: l.channels, dimension: l.dimension,
                                grams: grams[l.name] ?? [])
        }
    }
}
