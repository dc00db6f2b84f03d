import Foundation
import SSD
import Tensors
import Evaluation
import VOC

/// The quantization debugger behind `mpq diagnose`: where a quantized model loses accuracy against its float
/// model, layer by layer and head by head, and what to change.
///
/// Two passes over images already decoded (`PreparedImages`):
/// 1. **Variants** (every evaluation image, the oneDNN engines): the float model, the quantized model (weights
///    and activations, on `Options.engine`), weights only (the file's weights `Σ a·q`, activations float),
///    activations only (float weights, the file's input grids), and the two head swaps — the quantized model's
///    class logits with the float model's box offsets, and the other way round. Each is scored with the VOC07
///    devkit-exact evaluator, with paired bootstrap intervals; the per-head SQNR compares raw head outputs.
/// 2. **Layers** (the first `Options.sqnrImages` images, the native engine, simulated quantization): both
///    networks run on the same float image; at every conv the quantized network's output is compared with the
///    float network's output of the same conv (accumulated error), and the conv is also run alone on the float
///    network's input, quantized as the file says (its own error), split into its weights' and its input grid's
///    share.
public struct DiagnosisRunner {
    public struct Options: Sendable {
        /// How many of the evaluation images (from the start) the layer pass uses.
        public var sqnrImages: Int
        /// How the quantized model runs in the variant pass (the variants with float weights or float activations
        /// always run simulated: the int8 engine needs both quantized).
        public var engine: QuantizedEngine
        public var bootstrapResamples: Int
        public var seed: UInt64
        /// How many entries the "what broke" list keeps.
        public var top: Int

        public init(sqnrImages: Int = 16, engine: QuantizedEngine = .int8,
                    bootstrapResamples: Int = MAPBootstrap.defaultResamples, seed: UInt64 = MAPBootstrap.defaultSeed,
                    top: Int = 10) {
            self.sqnrImages = sqnrImages
            self.engine = engine
            self.bootstrapResamples = bootstrapResamples
            self.seed = seed
            self.top = top
        }
    }

    /// A quantized model file that does not fit the float model it is diagnosed against.
    public struct Mismatch: LocalizedError, CustomStringConvertible {
        public let description: String
        public var errorDescription: String? { description }
    }

    public let floatModel: SSDModel
    /// The quantized file's network (reconstructed weights) and the file.
    public let quantizedModel: SSDModel
    public let file: QuantizedFile
    public let images: PreparedImages
    /// Ground truth of exactly `images.ids`, in order.
    public let groundTruth: GroundTruth
    public let options: Options

    /// - Throws: `Mismatch` when the two networks differ in architecture, classes or conv shapes.
    public init(floatModel: SSDModel, quantizedModel: SSDModel, file: QuantizedFile, images: PreparedImages,
                groundTruth: GroundTruth, options: Options) throws {
        precondition(groundTruth.imageIDs == images.ids, "ground truth must list the images")
        guard floatModel.architecture == quantizedModel.architecture, floatModel.classes == quantizedModel.classes else {
            throw Mismatch(description: "the quantized model is a \(quantizedModel.architecture.rawValue) with "
                + "\(quantizedModel.classes - 1) classes, the float model a \(floatModel.architecture.rawValue) with "
                + "\(floatModel.classes - 1): not its source model")
        }
        let floatShapes = Dictionary(floatModel.convolutions.map { ($0.name, $0.conv.weight.shape) },
                                     uniquingKeysWith: { a, _ in a })
        for unit in quantizedModel.convolutions where floatShapes[unit.name] != unit.conv.weight.shape {
            throw Mismatch(description: "conv \(unit.name) has weight shape \(unit.conv.weight.shape) in the quantized "
                + "model and \(floatShapes[unit.name].map { "\($0)" } ?? "none") in the float model: not its source model")
        }
        self.floatModel = floatModel
        self.quantizedModel = quantizedModel
        self.file = file
        self.images = images
        self.groundTruth = groundTruth
        self.options = options
    }

    /// Runs both passes and ranks what broke.
    /// - Parameter progress: `(step, done, total)` after each image of each pass.
    public func run(progress: ((String, Int, Int) -> Void)? = nil) -> Diagnosis {
        let variants = variantPass(progress: progress)
        let layers = layerPass(progress: progress)
        var d = Diagnosis(
            method: file.info.method, wbits: file.info.wbits, abits: file.info.abits,
            engine: options.engine.rawValue, images: images.count,
            sqnrImages: min(options.sqnrImages, images.count), variants: variants.variants,
            classes: variants.classes, heads: variants.heads, layers: layers, whatBroke: [],
            bootstrap: variants.bootstrap)
        d.whatBroke = Diagnosis.rank(layers, top: options.top)
        return d
    }

    // MARK: - Variants

    private struct VariantResults {
        var variants: [Diagnosis.Variant]
        var classes: [Diagnosis.ClassAP]
        var heads: [Diagnosis.HeadSQNR]
        var bootstrap: Diagnosis.BootstrapSettings?
    }

    /// One model's raw outputs of one image.
    private typealias Run = (model: SSDModel, quantization: InputQuantization?)

    private func variantPass(progress: ((String, Int, Int) -> Void)?) -> VariantResults {
        let (quantization, _) = file.execution(options.engine)
        let simulatedInputs = file.inputQuantization
        // float, quantized, weights only, activations only.
        let runs: [Run] = [(floatModel, nil), (quantizedModel, quantization), (quantizedModel, nil),
                           (floatModel, simulatedInputs)]
        var workspaces = runs.map { _ in SSDWorkspace() }
        var head = HeadOutputs(priors: floatModel.priors.count, classes: floatModel.classes)
        let names = Diagnosis.Variant.names
        var detections = [[[Detection]]](repeating: [], count: names.count)
        // SQNR sums per quantized run (quantized, weights only, activations only) and head.
        var sums = [[SQNRSum]](repeating: [SQNRSum(), SQNRSum()], count: 3)
        for i in 0..<images.count {
            let x = images.inputs[i], size = images.sizes[i]
            var outputs: [HeadOutputs] = []
            for (k, run) in runs.enumerated() {
                run.model.forward(x, into: &head, workspace: &workspaces[k], quantization: run.quantization)
                outputs.append(head)
            }
            let f = outputs[0], q = outputs[1]
            var qScoresFloatBoxes = f, floatScoresQBoxes = f
            qScoresFloatBoxes.confidences = q.confidences
            floatScoresQBoxes.locations = q.locations
            for (k, out) in (outputs + [qScoresFloatBoxes, floatScoresQBoxes]).enumerated() {
                detections[k].append(ModelScoring.detections(floatModel, outputs: out, size: size))
            }
            for k in 0..<3 {
                sums[k][0].add(reference: f.confidences, quantized: outputs[k + 1].confidences)
                sums[k][1].add(reference: f.locations, quantized: outputs[k + 1].locations)
            }
            progress?("variants", i + 1, images.count)
        }
        let classCount = groundTruth.classNames.count
        let scored = detections.map { ModelScoring.scoredBoxes($0, classCount: classCount) }
        let results = scored.map {
            DetectionEvaluator.evaluate(groundTruth: groundTruth, detections: $0, metric: .voc07, protocol: .devkit)
        }
        let boot = options.bootstrapResamples > 0 && images.count > 0
            ? MAPBootstrap.run(groundTruth: groundTruth, models: scored, metric: .voc07, protocol: .devkit,
                               resamples: options.bootstrapResamples, seed: options.seed)
            : nil
        let floatMAP = results[0].mAP
        let variants = names.indices.map { k in
            Diagnosis.Variant(name: names[k], map: results[k].mAP, mapCI95: boot?.interval(k),
                              deltaVsFP32: results[k].mAP.flatMap { m in floatMAP.map { m - $0 } },
                              deltaCI95: k == 0 ? nil : boot?.differenceInterval(k, minus: 0))
        }
        let classes = results[0].classes.indices.map { c in
            Diagnosis.ClassAP(name: results[0].classes[c].name, positives: results[0].classes[c].positives,
                              apFP32: results[0].classes[c].ap, apQuantized: results[1].classes[c].ap,
                              apWeightsOnly: results[2].classes[c].ap, apActivationsOnly: results[3].classes[c].ap)
        }
        let heads = ["quantized", "weights_only", "activations_only"].enumerated().map { k, name in
            Diagnosis.HeadSQNR(variant: name, classificationSQNRDB: sums[k][0].db, regressionSQNRDB: sums[k][1].db)
        }
        let settings = boot.map { Diagnosis.BootstrapSettings(resamples: $0.resamples, seed: $0.seed,
                                                              images: $0.imageCount) }
        return VariantResults(variants: variants, classes: classes, heads: heads, bootstrap: settings)
    }

    // MARK: - Layers

    /// Per-conv sums of the layer pass.
    private final class LayerSums {
        var accumulated = SQNRSum(), input = SQNRSum(), alone = SQNRSum(), weights = SQNRSum(), activations = SQNRSum()
    }

    private func layerPass(progress: ((String, Int, Int) -> Void)?) -> [Diagnosis.Layer] {
        let floatUnits = floatModel.convolutions
        let floatConvs = Dictionary(floatUnits.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        let quantUnits = quantizedModel.convolutions
        let quantConvs = Dictionary(quantUnits.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        let byName = Dictionary(file.convs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let grids = file.inputQuantization?.grids ?? [:]
        let sums = Dictionary(quantUnits.map { ($0.name, LayerSums()) }, uniquingKeysWith: { a, _ in a })
        final class Inputs { var byName: [String: Tensor] = [:] }
        let floatInputs = Inputs()
        let count = min(options.sqnrImages, images.count)
        var floatWorkspace = SSDWorkspace(engine: .native), quantWorkspace = SSDWorkspace(engine: .native)
        for i in 0..<count {
            floatInputs.byName = [:]
            _ = floatModel.forward(images.inputs[i], workspace: &floatWorkspace) { name, x in
                floatInputs.byName[name] = x
                return x
            }
            _ = quantizedModel.forward(images.inputs[i], workspace: &quantWorkspace) { name, x in
                let grid = grids[name]
                let xq = grid.map { Self.fakeQuantized(x, $0) } ?? x
                guard let s = sums[name], let xf = floatInputs.byName[name], xf.shape == x.shape,
                      let convF = floatConvs[name], let convQ = quantConvs[name] else { return xq }
                let yf = convF(xf)
                s.input.add(reference: xf.data, quantized: x.data)
                s.accumulated.add(reference: yf.data, quantized: convQ(xq).data)
                let xfq = grid.map { Self.fakeQuantized(xf, $0) } ?? xf
                s.alone.add(reference: yf.data, quantized: convQ(xfq).data)
                s.weights.add(reference: yf.data, quantized: byName[name] == nil ? yf.data : convQ(xf).data)
                s.activations.add(reference: yf.data, quantized: grid == nil ? yf.data : convF(xfq).data)
                return xq
            }
            progress?("layers", i + 1, count)
        }
        let quantizedWeights = file.convs.reduce(0) { $0 + $1.weightShape.reduce(1, *) }
        return quantUnits.enumerated().map { index, unit in
            let conv = byName[unit.name], s = sums[unit.name] ?? LayerSums()
            let weights = unit.conv.weight.count
            return Diagnosis.Layer(
                index: index, name: unit.name, wbits: conv?.bits, abits: conv?.activation?.bits,
                points: conv.map { Double($0.rows) / Double(max($0.outputChannels, 1)) }, weights: weights,
                weightShare: conv == nil || quantizedWeights == 0 ? nil : Double(weights) / Double(quantizedWeights),
                sqnrDB: s.accumulated.db, inputSQNRDB: s.input.db, aloneSQNRDB: s.alone.db,
                weightsAloneSQNRDB: s.weights.db, activationsAloneSQNRDB: s.activations.db)
        }
    }

    static func fakeQuantized(_ x: Tensor, _ grid: InputQuantization.Grid) -> Tensor {
        var y = x
        y.data.withUnsafeMutableBufferPointer { b in
            guard let p = b.baseAddress else { return }
            grid.apply(p, p, count: b.count)
        }
        return y
    }
}

/// `Σ ||y||²` and `Σ ||ŷ - y||²` over any number of tensors, and their ratio in dB.
struct SQNRSum {
    var signal = 0.0
    var noise = 0.0

    mutating func add(reference: [Float], quantized: [Float]) {
        precondition(reference.count == quantized.count, "SQNR of tensors of different sizes")
        var s = 0.0, n = 0.0
        for i in reference.indices {
            let a = Double(reference[i]), d = Double(quantized[i]) - a
            s += a * a
            n += d * d
        }
        signal += s
        noise += n
    }

    /// `10 log10(signal / noise)`, capped at `Diagnosis.sqnrCapDB` (identical outputs, or noise below float
    /// resolution); 0 signal and some noise gives `-cap`.
    var db: Double { Diagnosis.capped(noise > 0 ? 10 * log10(signal / noise) : .infinity) }
}
