import ArgumentParser
import Foundation
import Quantization
import SSD
import Tensors
import Checkpoints
import VOC

extension WeightQuantizationMethod: ExpressibleByArgument {}
extension MultipointFirstPoint: ExpressibleByArgument {}
extension AllocationCost: ExpressibleByArgument {}

/// `mpq quantize`: calibrate, quantize (rtn, mse, multipoint, ocs, mixed or gptq), report per layer, optionally
/// evaluate and save.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize an SSD checkpoint (rtn, mse, multipoint, ocs, mixed, gptq, dfq or adaround weights, fake-quant activations).",
        discussion: """
        Calibration images (Gram matrices of every conv input, activation ranges) come from --calib-split and \
        never from the evaluation split: the command refuses when the two splits are the same or share an \
        image, unless --allow-overlap. Without --model / --voc-root the embedded demo detector and dataset are \
        used. Prints, per quantized layer, the histogram of points per channel, the average weight bits and the \
        relative output error ||W X - Q X||² / ||W X||² on the calibration inputs; then the model's average bits, \
        extra MACs and size. --evaluate adds the float and quantized mAP on --split, each with a 95% interval, and \
        their difference with its interval (paired bootstrap over the evaluation images: --bootstrap resamples, \
        default 1000, 0 turns it off; --seed), "not significant" when the interval contains 0. JSON: \
        map_before, map_after, map_before_ci95, map_after_ci95, delta_vs_fp32, delta_ci95, bootstrap.

        Methods: rtn (per-channel min-max round-to-nearest), mse (per-channel MSE-optimal clipping) and gptq \
        (Hessian-based sequential rounding on the calibration data) put every weight at --wbits bits; multipoint \
        (extra --wbits-bit points where the output needs them), ocs (outlier channel splitting, split ratio \
        matched to multipoint's extra channels, then rtn) and mixed (one width from 2 to 8 bits per layer, \
        chosen from --sensitivity or from each layer's output error) spend the --avg-bits budget. dfq is \
        cross-layer equalization + rtn + bias correction; adaround learns each weight's rounding on the \
        calibration data (--adaround-iterations); multipoint-adaround re-learns the rounding of each channel's \
        last multipoint point; multipoint-random (= --allocation random) gives multipoint's extra points per \
        layer to random channels (seeded by --seed), the ablation. --cle and --bias-correction add the two DFQ \
        steps to any method. --report DIR writes the error-vs-points and points-per-channel figures. Every \
        method saves with --out and runs from the file in mpq evaluate / mpq detect.

        --diagnose DIR then runs mpq diagnose on the quantized model against the float model (on --split, the \
        first --limit images; the same --engine, --bootstrap and --seed) and writes diagnose.json, diagnose.md \
        and report.html into DIR.

        Examples:
          mpq quantize --method multipoint --wbits 4 --avg-bits 4.25 \\
              --out runs/q.safetensors
          mpq quantize --model model.pth --voc-root VOCdevkit/VOC2007 \\
              --calib-split trainval --calib-images 64 --method rtn --wbits 4 \\
              --abits 8 --evaluate --split test --json -
          mpq quantize --method multipoint --wbits 4 --avg-bits 4.25 --cost macs \\
              --out runs/q-macs.safetensors
          mpq quantize --method multipoint --wbits 3 --max-error 0.01 \\
              --skip-layers first,last --evaluate
          mpq quantize --method mixed --avg-bits 3.5 \\
              --sensitivity runs/sens/sensitivity.json --evaluate
          mpq quantize --method rtn --wbits 3 --evaluate --bootstrap 2000 --seed 1
          mpq quantize --method dfq --wbits 4 --evaluate --limit 50
          mpq quantize --method adaround --wbits 4 --adaround-iterations 200 \\
              --cle --bias-correction --calib-images 16
          mpq quantize --method multipoint --allocation random --seed 3 \\
              --avg-bits 4.25 --evaluate --limit 50 --report runs/q-random
          mpq quantize --method multipoint --wbits 4 --avg-bits 4.25 --limit 50 \\
              --diagnose runs/diag
        """
    )

    @OptionGroup var modelOption: FloatModelOption
    var model: String? { modelOption.model }

    @OptionGroup var datasetOption: DatasetOption
    var vocRoot: String? { datasetOption.vocRoot }

    @OptionGroup var calibration: CalibrationOptions
    var calibSplit: String { calibration.calibSplit }
    var calibImages: Int { calibration.count(default: 64) }

    @Option(help: "The weight method (what each does: see the discussion above).")
    var method: WeightQuantizationMethod = .multipoint

    @Option(help: ArgumentHelp("The weight bit width of the grid (2 to 8).", valueName: "bits"))
    var wbits: Int = 4

    @Option(help: ArgumentHelp("The activation bit width; 32 keeps activations float.", valueName: "bits"))
    var abits: Int = 8

    @Option(name: .customLong("avg-bits"),
            help: ArgumentHelp("multipoint, ocs, mixed: the average weight bits budget (multipoint and ocs: at least "
                + "--wbits; mixed: 2 to 8).", valueName: "x"))
    var avgBits: Double?

    @Option(name: .customLong("max-error"),
            help: ArgumentHelp("Multipoint: add points until each layer's relative output error is at most this "
                + "(the paper's threshold; --max-error-scope channel: each channel's).", valueName: "e"))
    var maxError: Double?

    @Option(name: .customLong("max-error-scope"),
            help: ArgumentHelp("What --max-error bounds: layer (each layer's output error, points to the channels that "
                + "lower it most) or channel (every channel's own error).", valueName: "scope"))
    var maxErrorScope: ErrorScope = .layer

    @Option(help: ArgumentHelp("mixed: a sensitivity.json (mpq sensitivity) whose mAP drops choose the widths; "
        + "without it, each layer's relative output error on the calibration data.", valueName: "file"))
    var sensitivity: String?
    @Option(name: .customLong("first-point"),
            help: ArgumentHelp("Multipoint: each channel's first point, minmax (RTN's unclipped point, the default) or "
                + "mse (the exact MSE-optimal clip, DESIGN's first greedy step).", valueName: "rule"))
    var firstPoint: MultipointFirstPoint?
    @Option(help: ArgumentHelp("Multipoint: what --avg-bits counts: weights (stored weight bits, what the file size "
        + "follows; the default) or macs (multiply-adds per image, layers weighted by their output size: the int8 "
        + "engine's extra compute is then at most avg-bits/wbits - 1).", valueName: "kind"))
    var cost: AllocationCost?

    @Option(name: .customLong("act-calibration"),
            help: "How activation ranges are chosen: minmax, percentile (99.99%) or mse.")
    var actCalibration: String = "minmax"

    @Option(name: .customLong("skip-layers"),
            help: ArgumentHelp("Comma-separated conv names kept in float; 'first' and 'last' name the first and last "
                + "convs.", valueName: "list"))
    var skipLayers: String?

    @Option(help: ArgumentHelp("Write the quantized model (safetensors: codes, scales, points, ranges) here.",
                               valueName: "file"))
    var out: String?

    @Flag(help: "Also score the float and the quantized model on --split.")
    var evaluate = false

    @Option(help: ArgumentHelp("The evaluation split (never used for calibration).", valueName: "name"))
    var split: String = "test"

    @Option(help: ArgumentHelp("Evaluate (and diagnose) only the first N images of the split.", valueName: "n"))
    var limit: Int?

    @Option(help: ArgumentHelp("Also diagnose the quantized model (mpq diagnose) on --split and write "
        + "diagnose.json, diagnose.md and report.html into this folder.", valueName: "dir"))
    var diagnose: String?

    @Option(help: ArgumentHelp("Also write the report as JSON to this file, or to standard output with '-'.",
                               valueName: "file"))
    var json: String?

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    @OptionGroup var engineOption: EngineOption
    var engine: QuantizedEngine { engineOption.engine }

    @Flag(name: .customLong("allow-overlap"),
          help: "Allow calibration images from the evaluation split (results are then optimistic).")
    var allowOverlap = false

    @OptionGroup var bootstrapOptions: BootstrapOptions

    @OptionGroup var dfqOptions: DFQOptions

    @Option(help: ArgumentHelp("Multipoint: adaptive (points where the output error falls most) or random (the same "
        + "number of extra points per layer on random channels, seeded by --seed: the ablation).", valueName: "rule"))
    var allocation: PointAllocation = .adaptive

    @Option(help: ArgumentHelp("Write report.html with the error-vs-points and points-per-channel figures (SVG) "
        + "to this folder.", valueName: "dir"))
    var report: String?

    /// The method run: multipoint with --allocation random is multipoint-random.
    var effectiveMethod: WeightQuantizationMethod {
        method == .multipoint && allocation == .random ? .multipointRandom : method
    }

    var activationCalibration: ActivationCalibration? {
        switch actCalibration {
        case "minmax": return .minMax
        case "percentile": return .percentile(99.99)
        case "mse": return .mse
        default: return nil
        }
    }

    var budget: AllocationBudget? {
        if let avgBits { return .averageBits(avgBits) }
        return maxError.map { maxErrorScope == .layer ? .maxLayerError($0) : .maxRelativeError($0) }
    }

    func validate() throws {
        guard (2...8).contains(wbits) else { throw ValidationError("--wbits must be between 2 and 8, got \(wbits).") }
        guard abits == 32 || (2...8).contains(abits) else {
            throw ValidationError("--abits must be between 2 and 8, or 32 for float activations; got \(abits).")
        }
        if method == .mixed {
            if let avgBits, !(2...8).contains(avgBits) {
                throw ValidationError("--avg-bits for mixed must be between 2 and 8, got \(avgBits).")
            }
        } else if let avgBits, !(avgBits >= Double(wbits)) {
            throw ValidationError("--avg-bits \(avgBits) is below --wbits \(wbits): every channel needs at least one "
                + "\(wbits)-bit point, so the average cannot be under \(wbits).")
        }
        if let maxError, !(maxError > 0) { throw ValidationError("--max-error must be positive, got \(maxError).") }
        if avgBits != nil && maxError != nil { throw ValidationError("give --avg-bits or --max-error, not both.") }
        if avgBits != nil && !method.spendsBudget {
            throw ValidationError("--avg-bits needs --method multipoint, ocs or mixed (\(method.rawValue) puts every "
                + "weight at --wbits bits).")
        }
        if maxError != nil && !method.allocatesPoints {
            throw ValidationError("--max-error needs --method multipoint (or multipoint-adaround, multipoint-random).")
        }
        if allocation == .random && !(method == .multipoint || method == .multipointRandom) {
            throw ValidationError("--allocation random needs --method multipoint.")
        }
        if sensitivity != nil && method != .mixed { throw ValidationError("--sensitivity needs --method mixed.") }
        if cost != nil && !method.allocatesPoints {
            throw ValidationError("--cost needs --method multipoint (the other methods put one point per channel).")
        }
        if firstPoint != nil && !method.allocatesPoints {
            throw ValidationError("--first-point needs --method multipoint.")
        }
        guard activationCalibration != nil else {
            throw ValidationError("--act-calibration takes minmax, percentile or mse; got '\(actCalibration)'.")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit).") }
        if limit != nil && !evaluate && diagnose == nil {
            throw ValidationError("--limit sets how many images --evaluate or --diagnose score: add one of them.")
        }
        if let diagnose, diagnose.isEmpty { throw ValidationError("--diagnose needs a folder.") }
        for name in [split, calibSplit] where name.isEmpty || name.contains("/") {
            throw ValidationError("splits are names such as test or trainval, not paths: '\(name)'.")
        }
    }

    func run() throws {
        Runtime.setThreads(threads)
        let inputs = try JobInputs.resolve(model: model, vocRoot: vocRoot)
        let costs = try sensitivity.map { try SensitivityTable.load(URL(fileURLWithPath: $0)) }
        let evalIDs = try evaluationIDs(inputs)
        if !allowOverlap {
            if calibSplit == split {
                throw ValidationError("--calib-split and --split are both '\(split)': calibration images must not "
                    + "come from the evaluation split (pass --allow-overlap to do it anyway).")
            }
            let calibIDs = try VOCDataset(root: inputs.root, split: calibSplit, classes: inputs.classes).imageIDs
            let shared = Set(calibIDs).intersection(evalIDs)
            if let example = shared.sorted().first {
                throw ValidationError("splits '\(calibSplit)' and '\(split)' share \(shared.count) images (e.g. "
                    + "\(example)): calibration images must not come from the evaluation split (pass --allow-overlap "
                    + "to do it anyway).")
            }
        }
        let calib = try SensitivityJob.calibrationSet(inputs, split: calibSplit, count: calibImages, excluding: [],
                                                      preferCalibFile: false, threads: threads)
        Output.note("quantize: \(inputs.modelPath), \(method.rawValue) w\(wbits)a\(abits); calibration on "
            + calib.source)
        var bar = StepProgress("calibration")
        let chosen = effectiveMethod
        let steps = dfqOptions.steps(for: chosen)
        let floatModel = try steps.equalize(inputs.model, note: { Output.note("quantize: " + $0) })
        let stats = try CalibrationStatistics.collect(model: floatModel, images: calib.images, collectGrams: true) {
            bar.update($0, of: calib.images.count)
        }
        let skip = skipLayers.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        let options = ModelQuantizationOptions(
            method: chosen, weightBits: wbits, activationBits: abits,
            activationCalibration: activationCalibration ?? .minMax, budget: budget,
            sensitivities: costs, firstPoint: firstPoint ?? .minMax, cost: cost ?? .weights,
            adaround: dfqOptions.adaroundOptions, seed: bootstrapOptions.seed, threads: threads)
        let (wallStart, cpuStart) = (Date(), ProcessClock.cpuSeconds())
        var q = try ModelQuantizer.quantize(model: floatModel, statistics: stats, skip: skip, options: options)
        q = try steps.correctBiases(q, float: floatModel, images: calib.images, note: { Output.note("quantize: " + $0) })
        // The quantization alone (calibration excluded): the figure docs/quantizer.md reports.
        Output.note(String(format: "quantize: weights quantized in %.1f s wall, %.1f s CPU (%d threads)",
                           Date().timeIntervalSince(wallStart), ProcessClock.cpuSeconds() - cpuStart, threads))

        var report = QuantizeReport(q, method: steps.label(chosen), wbits: wbits, abits: abits)
        if evaluate {
            let eval = try SensitivityJob.evaluationSet(inputs, split: split, count: limit ?? Int.max, threads: threads)
            bar = StepProgress("float model")
            // Both models' detections are kept for the paired bootstrap over the evaluation images.
            let before = ModelScoring.detections(inputs.model, images: eval.images, progress: {
                bar.update($0, of: eval.images.count)
            })
            report.mapBefore = ModelScoring.meanAP(before, groundTruth: eval.truth)
            bar = StepProgress("quantized")
            let (quantization, notice) = q.execution(engine)
            if let notice { Output.note("quantize: \(notice)") }
            let after = ModelScoring.detections(q.model, images: eval.images, quantization: quantization,
                                                progress: { bar.update($0, of: eval.images.count) })
            report.mapAfter = ModelScoring.meanAP(after, groundTruth: eval.truth)
            report.deltaVsFP32 = report.mapAfter.flatMap { a in report.mapBefore.map { a - $0 } }
            let classCount = eval.truth.classNames.count
            if let boot = bootstrapOptions.run(eval.truth, [ModelScoring.scoredBoxes(before, classCount: classCount),
                                                            ModelScoring.scoredBoxes(after, classCount: classCount)]) {
                report.mapBeforeCI95 = boot.interval(0)
                report.mapAfterCI95 = boot.interval(1)
                report.deltaCI95 = boot.differenceInterval(1, minus: 0)
                report.bootstrap = bootstrapOptions.settings(images: eval.truth.imageIDs.count)
            }
        }
        let table = report.table()
        if json == "-" { Output.note(table) } else { print(table, terminator: "") }
        if out != nil || diagnose != nil {
            let source = try Data(contentsOf: URL(fileURLWithPath: inputs.modelPath))
            let file = q.file(method: steps.label(chosen), wbits: wbits, abits: abits, sourceSHA256: SHA256.hex(source),
                              version: MPQ.configuration.version, classNames: inputs.classes.names)
            if let out {
                try SafeTensors.write(file.stateDict(), to: URL(fileURLWithPath: out))
                Output.note("wrote \(out) (\(q.layers.count) quantized layers, \(q.floatLayers.count) float)")
            }
            if let diagnose {
                try DiagnoseJob(inputs: inputs, quantizedPath: out ?? "the quantized model (not saved)", file: file,
                                quantizedModel: q.model, split: split, limit: limit, sqnrImages: 16, top: 10,
                                engine: engine, threads: threads, bootstrap: bootstrapOptions,
                                summaryToStandardError: json == "-").run(report: URL(fileURLWithPath: diagnose))
            }
        }
        if let json { try Output.writeJSON(report, to: json) }
        if let folder = self.report {
            try FigureReport.save(in: URL(fileURLWithPath: folder), title: "mpq quantize: \(steps.label(chosen)) "
                + "w\(wbits)a\(abits)", model: floatModel, statistics: stats, bits: wbits, skip: skip,
                quantized: [(steps.label(chosen), q)], threads: threads)
            Output.note("wrote \(folder)/report.html")
        }
    }

    /// The ids of the evaluation split (empty when it does not exist and nothing is evaluated).
    func evaluationIDs(_ inputs: JobInputs) throws -> Set<String> {
        let file = inputs.root.appendingPathComponent("ImageSets/Main/\(split).txt")
        guard evaluate || diagnose != nil || FileManager.default.fileExists(atPath: file.path) else { return [] }
        return Set(try VOCDataset(root: inputs.root, split: split, classes: inputs.classes).imageIDs)
    }
}
