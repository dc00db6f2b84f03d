import Foundation
import Quantization
import SSD
import Evaluation
import VOC

/// Everything `mpq sensitivity` (and the demo's sensitivity step) does between parsing and writing files.
public struct SensitivityJob {
    let inputs: JobInputs
    let split: String
    let bits: [Int]
    let method: LayerwiseQuantizer.Method
    let evalImages: Int
    let calibImages: Int
    let calibSplit: String
    /// The demo calibrates on `ImageSets/Main/calib.txt` when present.
    let preferCalibFile: Bool
    let threads: Int
    /// Resume each run from cached float activations (`--no-activation-cache` turns it off).
    var cacheActivations = true
    /// What each run quantizes in its layer.
    var quantize: SensitivityOperand = .weights

    public init(inputs: JobInputs, split: String, bits: [Int], method: LayerwiseQuantizer.Method, evalImages: Int,
                calibImages: Int, calibSplit: String, preferCalibFile: Bool, threads: Int,
                cacheActivations: Bool = true, quantize: SensitivityOperand = .weights) {
        self.inputs = inputs
        self.split = split
        self.bits = bits
        self.method = method
        self.evalImages = evalImages
        self.calibImages = calibImages
        self.calibSplit = calibSplit
        self.preferCalibFile = preferCalibFile
        self.threads = threads
        self.cacheActivations = cacheActivations
        self.quantize = quantize
    }

    struct Result {
        let report: SensitivityReport
        let settings: [(String, String)]
        let seconds: Double
    }

    /// The first `count` images of `split` with their ground truth.
    static func evaluationSet(_ inputs: JobInputs, split: String, count: Int, threads: Int) throws
        -> (images: PreparedImages, truth: GroundTruth) {
        let dataset = try VOCDataset(root: inputs.root, split: split, classes: inputs.classes)
        let truth = try dataset.groundTruth(threads: threads)
        let n = min(count, truth.imageIDs.count)
        let subset = truth.subset(Array(0..<n))
        let images = try PreparedImages(dataset: dataset, ids: subset.imageIDs, architecture: inputs.model.architecture,
                                        threads: threads)
        return (images, subset)
    }

    /// Calibration images outside `excluding`.
    static func calibrationSet(_ inputs: JobInputs, split: String, count: Int, excluding: Set<String>,
                               preferCalibFile: Bool, threads: Int) throws -> (images: PreparedImages, source: String) {
        let (ids, source) = try EmbeddedDemo.calibrationIDs(root: inputs.root, classes: inputs.classes,
                                                           preferredSplit: split, count: count, excluding: excluding,
                                                           preferCalibFile: preferCalibFile)
        let dataset = try VOCDataset(root: inputs.root, split: split, classes: inputs.classes)
        let images = try PreparedImages(dataset: dataset, ids: ids, architecture: inputs.model.architecture,
                                        threads: threads)
        return (images, source)
    }

    /// A sharded or resumable run (`SensitivityShards`): told the run's settings (all but the wall time) and its
    /// layers in execution order before the first unit, `begin` says which (layer, bits) units to run;
    /// `finished` is told each unit as soon as it is done.
    struct Hooks {
        let begin: (_ settings: [(String, String)], _ layers: [String]) throws -> (String, Int) -> Bool
        let finished: (SensitivityUnitResult) throws -> Void
    }

    func run(hooks: Hooks? = nil) throws -> Result {
        let start = Date()
        let eval = try Self.evaluationSet(inputs, split: split, count: evalImages, threads: threads)
        let calib = try Self.calibrationSet(inputs, split: calibSplit, count: calibImages,
                                            excluding: Set(eval.images.ids), preferCalibFile: preferCalibFile,
                                            threads: threads)
        Output.note("sensitivity: \(eval.images.count) evaluation images of '\(split)', calibration on \(calib.source)")
        var grams: [String: [GramMatrix]] = [:], ranges: [String: RangeObserver] = [:]
        let gramsNeeded = method == .multipoint && quantize != .activations
        if gramsNeeded || quantize != .weights {
            let stats = try CalibrationStatistics.collect(model: inputs.model, images: calib.images,
                                                          collectGrams: gramsNeeded)
            (grams, ranges) = (stats.grams, stats.ranges)
        }
        let runner = SensitivityRunner(model: inputs.model, evaluationImages: eval.images, groundTruth: eval.truth,
                                       calibrationImages: calib.images, grams: grams, ranges: ranges,
                                       options: .init(bits: bits, method: method, threads: threads,
                                                      cacheActivations: cacheActivations, quantize: quantize))
        var settings: [(String, String)] = [
            ("model", inputs.modelPath), ("dataset", inputs.root.path),
            ("evaluation images", "first \(eval.images.count) of split '\(split)'"),
            ("calibration images", calib.source),
            ("quantized", quantize.rawValue),
            ("method", quantize == .activations ? "none (weights float)" : method == .rtn
                ? "rtn (per-channel round-to-nearest)"
                : "multipoint (allocation within the layer, bits + 0.25 average bits)"),
            ("bits", bits.map(String.init).joined(separator: ", ")),
            ("activations", quantize == .weights ? "float (weights only)"
                : "the layer's input per-tensor at the bit width, min-max clip of the calibration images"),
            ("activation cache", cacheActivations ? "on (runs start at the layer)" : "off (runs start at the image)"),
        ]
        let include = try hooks?.begin(settings, inputs.model.convolutions.map(\.name))
        let cacheMB = Double(runner.activationCachePeakBytes()) / 1_048_576
        Output.note(cacheActivations ? String(format: "sensitivity: activation cache up to %.0f MB", cacheMB)
                        : "sensitivity: activation cache off, every run starts from the image")
        let bar = StepProgress("sensitivity")
        let report = try runner.run(progress: { p in bar.update(p.done, of: p.total, detail: p.layer) },
                                    only: include, finished: hooks?.finished)
        let seconds = Date().timeIntervalSince(start)
        settings.append(("wall time", String(format: "%.1f s", seconds)))
        return Result(report: report, settings: settings, seconds: seconds)
    }

    /// The most sensitive layers as a fixed-width table.
    public static func terminalTable(_ report: SensitivityReport, top: Int) -> String {
        let bits = report.layers.first?.results.map(\.bits) ?? []
        var s = String(format: "most sensitive layers (mAP drop in points / SQNR dB; float mAP on the sensitivity "
                           + "images %.2f):\n", report.mapFP32 * 100)
        s += "layer".padding(toLength: 34, withPad: " ", startingAt: 0)
            + bits.map { "\($0) bits".leftPad(18) }.joined() + "\n"
        for layer in report.ranked.prefix(top) {
            s += layer.name.padding(toLength: 34, withPad: " ", startingAt: 0)
                + layer.results.map { r in
                    (String(format: "%.2f / ", r.mapDrop * 100) + (r.sqnrDB.map { String(format: "%.1f", $0) } ?? "inf"))
                        .leftPad(18)
                }.joined() + "\n"
        }
        return s
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
