import Checkpoints
import Foundation
import Quantization
import SSD
import Tensors
import VOC

/// Everything `mpq quantize` does between parsing and printing: calibrate (away from the evaluation split), quantize,
/// correct biases, optionally score the float and the quantized model with the paired bootstrap, then save the
/// model, diagnose it, write the JSON and the figures.
public struct QuantizeJob {
    /// The command's settings, validated by the CLI.
    public struct Options {
        public var model: String?
        public var vocRoot: String?
        public var calibSplit = "trainval"
        public var calibImages = 64
        /// The method as given; with `allocation` random, multipoint runs as multipoint-random.
        public var method: WeightQuantizationMethod = .multipoint
        public var allocation: PointAllocation = .adaptive
        public var wbits = 4
        public var abits = 8
        public var activationCalibration: ActivationCalibration = .minMax
        /// multipoint, ocs, mixed: the average weight bits budget.
        public var avgBits: Double?
        /// multipoint: the bound on each layer's (or with scope channel, each channel's) relative output error.
        public var maxError: Double?
        public var maxErrorScope: ErrorScope = .layer
        /// mixed: a sensitivity.json whose mAP drops choose the widths.
        public var sensitivity: String?
        public var firstPoint: MultipointFirstPoint = .minMax
        public var cost: AllocationCost = .weights
        public var skipLayers: [String] = []
        public var cle = false
        public var biasCorrection = false
        public var adaround = AdaRoundOptions()
        /// Where the quantized model goes (safetensors), if anywhere.
        public var out: String?
        public var evaluate = false
        public var split = "test"
        public var limit: Int?
        /// Also diagnose into this folder.
        public var diagnose: String?
        /// The JSON report's file, or "-" for standard output (the table then goes to standard error).
        public var json: String?
        /// The folder of the figures' report.html.
        public var report: String?
        public var allowOverlap = false
        public var engine: QuantizedEngine = .int8
        /// The paired bootstrap; its seed also seeds multipoint-random's draw.
        public var bootstrap = BootstrapPlan()
        public var threads = 1
        /// The tool's version, recorded in the quantized model file.
        public var version = ""

        public init() {}

        /// What the allocation spends: `avgBits`, else `maxError` in its scope, else nothing.
        var budget: AllocationBudget? {
            if let avgBits { return .averageBits(avgBits) }
            return maxError.map { maxErrorScope == .layer ? .maxLayerError($0) : .maxRelativeError($0) }
        }

        /// The method run: multipoint with allocation random is multipoint-random.
        var effectiveMethod: WeightQuantizationMethod {
            method == .multipoint && allocation == .random ? .multipointRandom : method
        }
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    /// Runs the job; `print` gets the table (unless the JSON goes to standard output) and the diagnosis summary,
    /// `note` the progress lines.
    /// - Throws: `OptionsError` when calibration images would come from the evaluation split (without
    ///   `allowOverlap`); the errors of loading, quantizing and writing.
    @discardableResult
    public func run(note: @escaping (String) -> Void = Output.note,
                    print say: @escaping (String) -> Void = { Swift.print($0, terminator: "") }) throws
        -> QuantizeReport {
        let o = options
        let threads = o.threads, split = o.split, calibSplit = o.calibSplit, wbits = o.wbits, abits = o.abits
        let inputs = try JobInputs.resolve(model: o.model, vocRoot: o.vocRoot)
        let costs = try o.sensitivity.map { try SensitivityTable.load(URL(fileURLWithPath: $0)) }
        let evalIDs = try evaluationIDs(inputs)
        if !o.allowOverlap {
            if calibSplit == split {
                throw OptionsError("--calib-split and --split are both '\(split)': calibration images must not "
                    + "come from the evaluation split (pass --allow-overlap to do it anyway).")
            }
            let calibIDs = try VOCDataset(root: inputs.root, split: calibSplit, classes: inputs.classes).imageIDs
            let shared = Set(calibIDs).intersection(evalIDs)
            if let example = shared.sorted().first {
                throw OptionsError("splits '\(calibSplit)' and '\(split)' share \(shared.count) images (e.g. "
                    + "\(example)): calibration images must not come from the evaluation split (pass --allow-overlap "
                    + "to do it anyway).")
            }
        }
        let calib = try SensitivityJob.calibrationSet(inputs, split: calibSplit, count: o.calibImages, excluding: [],
                                                      preferCalibFile: false, threads: threads)
        note("quantize: \(inputs.modelPath), \(o.method.rawValue) w\(wbits)a\(abits); calibration on "
            + calib.source)
        var bar = StepProgress("calibration")
        let chosen = o.effectiveMethod
        let steps = DFQSteps(method: chosen, cle: o.cle, biasCorrection: o.biasCorrection)
        let floatModel = try steps.equalize(inputs.model, note: { note("quantize: " + $0) })
        let stats = try CalibrationStatistics.collect(model: floatModel, images: calib.images, collectGrams: true) {
            bar.update($0, of: calib.images.count)
        }
        let skip = o.skipLayers
        let options = ModelQuantizationOptions(
            method: chosen, weightBits: wbits, activationBits: abits,
            activationCalibration: o.activationCalibration, budget: o.budget,
            sensitivities: costs, firstPoint: o.firstPoint, cost: o.cost,
            adaround: o.adaround, seed: o.bootstrap.seed, threads: threads)
        let (wallStart, cpuStart) = (Date(), ProcessClock.cpuSeconds())
        var q = try ModelQuantizer.quantize(model: floatModel, statistics: stats, skip: skip, options: options)
        q = try steps.correctBiases(q, float: floatModel, images: calib.images, note: { note("quantize: " + $0) })
        // The quantization alone (calibration excluded): the figure docs/quantizer.md reports.
        note(String(format: "quantize: weights quantized in %.1f s wall, %.1f s CPU (%d threads)",
                    Date().timeIntervalSince(wallStart), ProcessClock.cpuSeconds() - cpuStart, threads))

        var report = QuantizeReport(q, method: steps.label(chosen), wbits: wbits, abits: abits)
        if o.evaluate {
            let eval = try SensitivityJob.evaluationSet(inputs, split: split, count: o.limit ?? Int.max,
                                                        threads: threads)
            bar = StepProgress("float model")
            // Both models' detections are kept for the paired bootstrap over the evaluation images.
            let before = ModelScoring.detections(inputs.model, images: eval.images, progress: {
                bar.update($0, of: eval.images.count)
            })
            report.mapBefore = ModelScoring.meanAP(before, groundTruth: eval.truth)
            bar = StepProgress("quantized")
            let (quantization, notice) = q.execution(o.engine)
            if let notice { note("quantize: \(notice)") }
            let after = ModelScoring.detections(q.model, images: eval.images, quantization: quantization,
                                                progress: { bar.update($0, of: eval.images.count) })
            report.mapAfter = ModelScoring.meanAP(after, groundTruth: eval.truth)
            report.deltaVsFP32 = report.mapAfter.flatMap { a in report.mapBefore.map { a - $0 } }
            let classCount = eval.truth.classNames.count
            if let boot = o.bootstrap.run(eval.truth, [ModelScoring.scoredBoxes(before, classCount: classCount),
                                                       ModelScoring.scoredBoxes(after, classCount: classCount)]) {
                report.mapBeforeCI95 = boot.interval(0)
                report.mapAfterCI95 = boot.interval(1)
                report.deltaCI95 = boot.differenceInterval(1, minus: 0)
                report.bootstrap = o.bootstrap.settings(images: eval.truth.imageIDs.count)
            }
        }
        let table = report.table()
        if o.json == "-" { note(table) } else { say(table) }
        if o.out != nil || o.diagnose != nil {
            let source = try Data(contentsOf: URL(fileURLWithPath: inputs.modelPath))
            let file = q.file(method: steps.label(chosen), wbits: wbits, abits: abits, sourceSHA256: SHA256.hex(source),
                              version: o.version, classNames: inputs.classes.names)
            if let out = o.out {
                try SafeTensors.write(file.stateDict(), to: URL(fileURLWithPath: out))
                note("wrote \(out) (\(q.layers.count) quantized layers, \(q.floatLayers.count) float)")
            }
            if let diagnose = o.diagnose {
                try DiagnoseJob(inputs: inputs, quantizedPath: o.out ?? "the quantized model (not saved)", file: file,
                                quantizedModel: q.model, split: split, limit: o.limit, sqnrImages: 16, top: 10,
                                engine: o.engine, threads: threads, bootstrap: o.bootstrap,
                                summaryToStandardError: o.json == "-").run(report: URL(fileURLWithPath: diagnose))
            }
        }
        if let json = o.json { try Output.writeJSON(report, to: json) }
        if let folder = o.report {
            try FigureReport.save(in: URL(fileURLWithPath: folder), title: "mpq quantize: \(steps.label(chosen)) "
                + "w\(wbits)a\(abits)", model: floatModel, statistics: stats, bits: wbits, skip: skip,
                quantized: [(steps.label(chosen), q)], threads: threads)
            note("wrote \(folder)/report.html")
        }
        return report
    }

    /// The ids of the evaluation split (empty when it does not exist and nothing is evaluated).
    func evaluationIDs(_ inputs: JobInputs) throws -> Set<String> {
        let file = inputs.root.appendingPathComponent("ImageSets/Main/\(options.split).txt")
        guard options.evaluate || options.diagnose != nil || FileManager.default.fileExists(atPath: file.path) else {
            return []
        }
        return Set(try VOCDataset(root: inputs.root, split: options.split, classes: inputs.classes).imageIDs)
    }
}
