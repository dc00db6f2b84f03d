import Foundation
import SSD
import Tensors
import Evaluation
import VOC

/// One layer quantized alone at one bit width.
public struct SensitivityResult: Sendable, Equatable, Codable {
    public let bits: Int
    /// mAP of the model with only this layer quantized, on the evaluation images.
    public let map: Double
    /// `map_fp32 - map` (positive = worse than float).
    public let mapDrop: Double
    /// Detector-output SQNR on the calibration images in dB; nil when the outputs did not change at all
    /// (infinite SQNR, which JSON cannot hold).
    public let sqnrDB: Double?

    enum CodingKeys: String, CodingKey {
        case bits, map
        case mapDrop = "map_drop"
        case sqnrDB = "sqnr_db"
    }

    public init(bits: Int, map: Double, mapDrop: Double, sqnrDB: Double?) {
        self.bits = bits
        self.map = map
        self.mapDrop = mapDrop
        self.sqnrDB = sqnrDB
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bits, forKey: .bits)
        try c.encode(map, forKey: .map)
        try c.encode(mapDrop, forKey: .mapDrop)
        try c.encode(sqnrDB, forKey: .sqnrDB)   // explicit null, so every result has the same keys
    }
}

/// The sensitivity of one layer: its size and cost, and one result per bit width.
public struct LayerSensitivity: Sendable, Equatable, Codable {
    public let name: String
    /// Weights plus bias of the (folded) conv.
    public let params: Int
    /// Multiply-accumulates of the conv on one 300x300 input: `H_out · W_out · O · d`.
    public let macs: Int
    public let results: [SensitivityResult]

    public init(name: String, params: Int, macs: Int, results: [SensitivityResult]) {
        self.name = name
        self.params = params
        self.macs = macs
        self.results = results
    }

    /// The largest mAP drop over the bit widths (ranking key).
    public var worstDrop: Double { results.map(\.mapDrop).max() ?? 0 }
}

/// What a sensitivity run quantizes in the one layer it changes.
public enum SensitivityOperand: String, Sendable, Equatable, Codable, CaseIterable {
    /// The conv's weights (rtn or multipoint at the bit width); its input stays float.
    case weights
    /// The conv's input: a per-tensor grid at the bit width with the min-max clip of the calibration images
    /// (unsigned for a non-negative input); the weights stay float.
    case activations
    /// Both at the same bit width.
    case both
}

/// `sensitivity.json`: `{"layers": [...], "map_fp32": x, "quantize": "weights"}`.
public struct SensitivityReport: Sendable, Equatable, Codable {
    public let layers: [LayerSensitivity]
    public let mapFP32: Double
    /// What was quantized in each layer (a file without the key is from before it existed: weights).
    public let quantize: SensitivityOperand

    enum CodingKeys: String, CodingKey {
        case layers, quantize
        case mapFP32 = "map_fp32"
    }

    public init(layers: [LayerSensitivity], mapFP32: Double, quantize: SensitivityOperand = .weights) {
        self.layers = layers
        self.mapFP32 = mapFP32
        self.quantize = quantize
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layers = try c.decode([LayerSensitivity].self, forKey: .layers)
        mapFP32 = try c.decode(Double.self, forKey: .mapFP32)
        quantize = try c.decodeIfPresent(SensitivityOperand.self, forKey: .quantize) ?? .weights
    }

    /// Layers ordered most sensitive first: largest worst-case mAP drop, then lowest SQNR at the smallest bit
    /// width, then name (deterministic).
    public var ranked: [LayerSensitivity] {
        layers.sorted { a, b in
            if a.worstDrop != b.worstDrop { return a.worstDrop > b.worstDrop }
            let sa = a.results.first?.sqnrDB ?? .infinity, sb = b.results.first?.sqnrDB ?? .infinity
            if sa != sb { return sa < sb }
            return a.name < b.name
        }
    }
}

/// Per-layer sensitivity: every conv quantized **alone** at each bit width, the rest of the network in float.
///
/// For layer `l` and bits `b` the model with only `l`'s weights quantized is scored twice:
/// - mAP on the evaluation images (its drop against the float mAP), and
/// - the SQNR of the raw detector outputs on the calibration images: `10 log10(Σ ||y||² / Σ ||ŷ - y||²)` over
///   the class logits and box offsets of every prior (`ModelScoring.sqnr`) — a fast proxy that needs no labels.
///
/// Methods: `rtn` (per-channel min-max round-to-nearest at `b` bits) or `multipoint`, where the allocation is
/// confined to that one layer with a budget of `b + multipointExtraBits` average bits (default 0.25, the same
/// extra as the demo's 4.25 / 3.25 budgets), using the calibration Gram matrices.
///
/// `Options.quantize` says what is quantized in that layer: its weights (the default; activations stay float: the
/// question is which layers' weights hurt), its input alone (`activations`: a per-tensor min-max grid at `b` bits
/// from the calibration images' ranges, weights float), or both. Since only one layer changes, a run
/// starts from the cached float activations before that layer's stage rather than from the image (see
/// `ActivationCache`); `cacheActivations: false` re-runs every image from the start (same results).
public struct SensitivityRunner {
    public struct Options: Sendable {
        public var bits: [Int]
        public var method: LayerwiseQuantizer.Method
        public var multipointExtraBits: Double
        public var threads: Int
        /// Start each run at the layer's stage from cached float activations (false: from the image).
        public var cacheActivations: Bool
        /// The most the cached activations of all evaluation and calibration images may hold together; a stage
        /// whose activations do not fit is started from an earlier stage's.
        public var activationCacheBytes: Int
        /// Weights, the layer's input, or both.
        public var quantize: SensitivityOperand

        public init(bits: [Int], method: LayerwiseQuantizer.Method = .rtn, multipointExtraBits: Double = 0.25,
                    threads: Int = defaultQuantizationThreads, cacheActivations: Bool = true,
                    activationCacheBytes: Int = 2 << 30, quantize: SensitivityOperand = .weights) {
            self.quantize = quantize
            self.bits = bits
            self.method = method
            self.multipointExtraBits = multipointExtraBits
            self.threads = threads
            self.cacheActivations = cacheActivations
            self.activationCacheBytes = activationCacheBytes
        }
    }

    /// Progress after each (layer, bits) run.
    public struct Progress: Sendable {
        public let done: Int
        public let total: Int
        public let layer: String
        public let elapsed: Double
    }

    public let model: SSDModel
    public let evaluationImages: PreparedImages
    /// Ground truth of exactly `evaluationImages.ids`, in order.
    public let groundTruth: GroundTruth
    public let calibrationImages: PreparedImages
    /// Gram matrices from `calibrationImages` (multipoint only).
    public let grams: [String: [GramMatrix]]
    /// Each conv's input range on `calibrationImages` (`quantize` activations or both).
    public let ranges: [String: RangeObserver]
    public let options: Options

    public init(model: SSDModel, evaluationImages: PreparedImages, groundTruth: GroundTruth,
                calibrationImages: PreparedImages, grams: [String: [GramMatrix]] = [:],
                ranges: [String: RangeObserver] = [:], options: Options) {
        precondition(groundTruth.imageIDs == evaluationImages.ids, "ground truth must list the evaluation images")
        self.ranges = ranges
        self.model = model
        self.evaluationImages = evaluationImages
        self.groundTruth = groundTruth
        self.calibrationImages = calibrationImages
        self.grams = grams
        self.options = options
    }

    /// Multiply-adds of every conv on a 300x300 input.
    static func macs(_ model: SSDModel) -> [String: Int] {
        let convs = Dictionary(model.convolutions.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        return model.convOutputPositions().reduce(into: [:]) { out, entry in
            if let conv = convs[entry.key] { out[entry.key] = entry.value * conv.outChannels * conv.patchLength }
        }
    }

    /// The float states of the evaluation and the calibration images, with the budget split by image count.
    private func caches(evaluation: [HeadOutputs], calibration: [HeadOutputs]) -> (ActivationCache, ActivationCache) {
        let floats = ActivationCache.stateFloats(model)
        let total = max(1, evaluationImages.count + calibrationImages.count)
        let budget = options.cacheActivations ? options.activationCacheBytes : 0
        func cache(_ images: PreparedImages, _ outputs: [HeadOutputs]) -> ActivationCache {
            ActivationCache(model: model, inputs: images.inputs, complete: outputs, stateFloats: floats,
                            budgetBytes: Int(Double(budget) * Double(images.count) / Double(total)))
        }
        return (cache(evaluationImages, evaluation), cache(calibrationImages, calibration))
    }

    /// The model and conv input hook of one run: `unit` quantized at `bits` as `options.quantize` says.
    func variant(_ unit: String, bits: Int) throws -> (model: SSDModel, hook: ConvInputHook?) {
        let quantized = options.quantize == .activations ? model
            : try LayerwiseQuantizer.quantize(model, layers: [unit], method: options.method, bits: bits,
                                              averageBits: Double(bits) + options.multipointExtraBits,
                                              grams: grams, threads: options.threads).model
        guard options.quantize != .weights else { return (quantized, nil) }
        guard let range = ranges[unit] else {
            throw QuantizationError.invalidShape("no calibration range of \(unit)'s input (activation sensitivity "
                + "needs the calibration statistics' ranges)")
        }
        let hook = CalibrationStatistics.activationHook([unit: try range.quantizer(.minMax, bits: bits)])
        return (quantized, hook)
    }

    /// - Parameters:
    ///   - only: runs just the (layer, bits) units it accepts (a shard, or the units a journal lacks); the
    ///     report then holds only layers with at least one unit run.
    ///   - finished: told each unit as soon as it is done (the shard journal records it).
    /// - Throws: `QuantizationError` (unsupported bits, multipoint without Gram matrices, activations without
    ///   ranges), or what `finished` throws.
    public func run(layers names: [String]? = nil, progress: ((Progress) -> Void)? = nil,
                    only include: ((String, Int) -> Bool)? = nil,
                    finished: ((SensitivityUnitResult) throws -> Void)? = nil) throws -> SensitivityReport {
        let start = Date()
        // The default engine, as the cache's staged passes use: an unchanged layer then gives these bits exactly.
        let floatEval = ModelScoring.headOutputs(model, images: evaluationImages)
        let floatMAP = ModelScoring.meanAP(floatEval.indices.map { ModelScoring.detections(model, outputs: floatEval[$0],
                                                                                            size: evaluationImages.sizes[$0]) },
                                           groundTruth: groundTruth)
        let floatOutputs = ModelScoring.headOutputs(model, images: calibrationImages)
        var (evalCache, calibCache) = caches(evaluation: floatEval, calibration: floatOutputs)
        let macs = Self.macs(model)
        // Execution order, so the caches only move forward.
        let units = model.convolutions.filter { names?.contains($0.name) ?? true }
        let total = units.reduce(0) { n, u in n + options.bits.filter { include?(u.name, $0) ?? true }.count }
        var done = 0
        var layers: [LayerSensitivity] = []
        var head = HeadOutputs(priors: model.priors.count, classes: model.classes)
        for unit in units where options.bits.contains(where: { include?(unit.name, $0) ?? true }) {
            guard let stage = model.stage(ofConvolution: unit.name) else {
                throw QuantizationError.invalidShape("no stage runs \(unit.name)")
            }
            evalCache.move(toRunStage: stage)
            calibCache.move(toRunStage: stage)
            var results: [SensitivityResult] = []
            let params = unit.conv.weight.count + (unit.conv.bias?.count ?? 0)
            for bits in options.bits where include?(unit.name, bits) ?? true {
                let unitStart = Date()
                let q = try variant(unit.name, bits: bits)
                var detections: [[Detection]] = []
                for i in 0..<evaluationImages.count {
                    evalCache.outputs(of: q.model, stage: stage, image: i, into: &head, hook: q.hook)
                    detections.append(ModelScoring.detections(q.model, outputs: head, size: evaluationImages.sizes[i]))
                }
                let map = ModelScoring.meanAP(detections, groundTruth: groundTruth)
                var quantized: [HeadOutputs] = []
                for i in 0..<calibrationImages.count {
                    calibCache.outputs(of: q.model, stage: stage, image: i, into: &head, hook: q.hook)
                    quantized.append(head)
                }
                let sqnr = ModelScoring.sqnr(reference: floatOutputs, quantized: quantized)
                results.append(SensitivityResult(bits: bits, map: map, mapDrop: floatMAP - map,
                                                 sqnrDB: sqnr.isFinite ? sqnr : nil))
                try finished?(SensitivityUnitResult(layer: unit.name, params: params, macs: macs[unit.name] ?? 0,
                                                    result: results[results.count - 1], mapFP32: floatMAP,
                                                    seconds: Date().timeIntervalSince(unitStart)))
                done += 1
                progress?(Progress(done: done, total: total, layer: unit.name, elapsed: Date().timeIntervalSince(start)))
            }
            layers.append(LayerSensitivity(name: unit.name, params: params, macs: macs[unit.name] ?? 0, results: results))
        }
        return SensitivityReport(layers: layers, mapFP32: floatMAP, quantize: options.quantize)
    }

    /// The most memory the cached activations take for this runner's images and options (bytes): per image the
    /// largest state past the image (`ForwardState.floatCount`) that fits the budget. The images and the float
    /// head outputs of every image (kept with or without the cache) are not counted.
    public func activationCachePeakBytes() -> Int {
        guard options.cacheActivations else { return 0 }
        let floats = ActivationCache.stateFloats(model).dropFirst()
        let total = max(1, evaluationImages.count + calibrationImages.count)
        var peak = 0
        for images in [evaluationImages.count, calibrationImages.count] {
            let budget = Int(Double(options.activationCacheBytes) * Double(images) / Double(total))
                / MemoryLayout<Float>.size
            let largest = floats.filter { $0 * images <= budget }.max() ?? 0
            peak += largest * images * MemoryLayout<Float>.size
        }
        return peak
    }
}
