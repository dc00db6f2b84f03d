import SSD
import Tensors

/// The weight method of `quantize(model:…)` (`--method`).
public enum WeightQuantizationMethod: String, CaseIterable, Sendable, Codable {
    /// Per-channel min-max round-to-nearest.
    case rtn
    /// Per-channel MSE-optimal clipping (exact).
    case mse
    /// Multipoint (RTN's min-max first point, then exact greedy steps) with output-error-driven allocation
    /// (needs calibration Gram matrices).
    case multipoint
}

/// Settings of `quantize(model:…)`.
public struct ModelQuantizationOptions: Sendable {
    public var method: WeightQuantizationMethod
    public var weightBits: Int
    /// Activation bits; 32 keeps activations float.
    public var activationBits: Int
    public var activationCalibration: ActivationCalibration
    /// Multipoint only: `--avg-bits` or `--max-error`; nil means one point per channel.
    public var budget: AllocationBudget?
    public var maxPointsPerChannel: Int
    public var countScaleBits: Bool
    /// Multipoint only: each channel's first point (`--first-point`, default RTN's min-max point).
    public var firstPoint: MultipointFirstPoint
    public var threads: Int

    public init(method: WeightQuantizationMethod, weightBits: Int = 4, activationBits: Int = 8,
                activationCalibration: ActivationCalibration = .minMax, budget: AllocationBudget? = nil,
                maxPointsPerChannel: Int = 16, countScaleBits: Bool = false, firstPoint: MultipointFirstPoint = .minMax,
                threads: Int = defaultQuantizationThreads) {
        self.method = method
        self.weightBits = weightBits
        self.activationBits = activationBits
        self.activationCalibration = activationCalibration
        self.budget = budget
        self.maxPointsPerChannel = maxPointsPerChannel
        self.countScaleBits = countScaleBits
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
    public let weights: QuantizedWeights
    public let bias: [Float]
    public let activation: ActivationQuantizer?
    public let accounting: LayerAccounting
}

/// A quantized SSD: the model with fake-quant weights installed, plus everything needed to save, report
/// and run it (the activation hook).
public struct QuantizedModel: Sendable {
    public let model: SSDModel
    public let layers: [QuantizedLayer]
    /// Layers kept in float (`--skip-layers`).
    public let floatLayers: [String]
    public let accounting: ModelAccounting

    /// The hook that fake-quantizes every quantized layer's input; nil when activations stay float.
    public var activationHook: ConvInputHook? {
        let quantizers = Dictionary(layers.compactMap { l in l.activation.map { (l.name, $0) } },
                                    uniquingKeysWith: { a, _ in a })
        guard !quantizers.isEmpty else { return nil }
        return { name, x in
            guard let q = quantizers[name] else { return x }
            var y = x
            q.fakeQuantize(&y.data)
            return y
        }
    }
}

public enum ModelQuantizer {
    /// Quantizes `model`'s convolutions (all but `skip`) with `options.method`.
    /// - Parameters:
    ///   - statistics: calibration statistics; Gram matrices are needed for multipoint (and give every
    ///     method its relative output error), ranges for activation quantization.
    /// - Throws: `QuantizationError` for bad settings or missing calibration data.
    public static func quantize(model: SSDModel, statistics: CalibrationStatistics?, skip: [String] = [],
                                options: ModelQuantizationOptions) throws -> QuantizedModel {
        let grid = try QuantGrid(bits: options.weightBits)
        if options.quantizesActivations && !QuantGrid.supportedBits.contains(options.activationBits) {
            throw QuantizationError.unsupportedBits(options.activationBits)
        }
        let (selected, kept) = try LayerSelection.split(model.quantizableLayers, skipping: skip)
        let grams = statistics?.grams ?? [:]
        let allocationLayers: [AllocationLayer]? = try selected.allSatisfy({ grams[$0.name] != nil })
            ? selected.map { l in
                try AllocationLayer(name: l.name, weights: l.weights, channels: l.channels, dimension: l.dimension,
                                    grams: grams[l.name] ?? [])
            } : nil

        var weights: [QuantizedWeights] = []
        var errors: [Double?] = []
        switch options.method {
        case .rtn, .mse:
            for (i, l) in selected.enumerated() {
                let q = try WeightQuantizer.quantize(weights: l.weights, channels: l.channels, dimension: l.dimension,
                                                     grid: grid, method: options.method == .rtn ? .rtn : .mse,
                                                     threads: options.threads)
                weights.append(q)
                errors.append(allocationLayers.map { OutputError.relative($0[i], q, threads: options.threads) })
            }
        case .multipoint:
            guard let layers = allocationLayers else { throw QuantizationError.missingCalibration("Gram matrices") }
            let budget = options.budget ?? .averageBits(Double(options.weightBits))
            let result = try MultipointAllocator.allocate(layers, options: AllocationOptions(
                grid: grid, budget: budget, maxPointsPerChannel: options.maxPointsPerChannel,
                countScaleBits: options.countScaleBits, firstPoint: options.firstPoint, threads: options.threads))
            weights = result.layers.map(\.weights)
            errors = result.layers.map { $0.relativeOutputError }
        }

        var quantizedModel = model
        var layers: [QuantizedLayer] = []
        for (i, l) in selected.enumerated() {
            let bias = l.conv.bias ?? [Float](repeating: 0, count: l.channels)
            try quantizedModel.replaceConvolution(
                named: l.name, weight: Tensor(shape: l.conv.weight.shape, data: weights[i].reconstructed()), bias: bias)
            var activation: ActivationQuantizer?
            if options.quantizesActivations {
                guard let observer = statistics?.ranges[l.name] else {
                    throw QuantizationError.missingCalibration("activation ranges of \(l.name)")
                }
                activation = try observer.quantizer(options.activationCalibration, bits: options.activationBits)
            }
            layers.append(QuantizedLayer(
                name: l.name, weightShape: l.conv.weight.shape, weights: weights[i], bias: bias, activation: activation,
                accounting: LayerAccounting(name: l.name, weights: weights[i], floatParameters: l.biasCount,
                                            relativeOutputError: errors[i])))
        }
        let floatParameters = kept.reduce(0) { $0 + $1.conv.weight.count + $1.biasCount }
        return QuantizedModel(model: quantizedModel, layers: layers, floatLayers: kept.map(\.name),
                              accounting: ModelAccounting(layers: layers.map(\.accounting),
                                                          floatLayerParameters: floatParameters))
    }
}
