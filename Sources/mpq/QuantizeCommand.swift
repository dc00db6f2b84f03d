import ArgumentParser
import Foundation
import Quantization
import SSD
import Tensors
import Workflows

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
          mpq quantize --method multipoint --wbits 4 --avg-bits 4.25 --cost int8-macs \\
              --out runs/q-fast.safetensors
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
        + "follows; the default), macs (multiply-adds per image, layers weighted by their output size: the int8 "
        + "engine's extra compute is then at most avg-bits/wbits - 1), int8-macs (macs with each layer's rows "
        + "counted in blocks of 16, as the int8 engine runs them) or int8-time (the int8 engine's time: int8-macs, "
        + "a depthwise layer's extra points as whole levels, one output pass per multipoint layer; the fastest "
        + "multipoint files, extra time at most avg-bits/wbits - 1 as modelled).", valueName: "kind"))
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

    var activationCalibration: ActivationCalibration? {
        switch actCalibration {
        case "minmax": return .minMax
        case "percentile": return .percentile(99.99)
        case "mse": return .mse
        default: return nil
        }
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

    /// The job's settings from the flags.
    var jobOptions: QuantizeJob.Options {
        var o = QuantizeJob.Options()
        o.model = model
        o.vocRoot = vocRoot
        o.calibSplit = calibSplit
        o.calibImages = calibImages
        o.method = method
        o.allocation = allocation
        o.wbits = wbits
        o.abits = abits
        o.activationCalibration = activationCalibration ?? .minMax
        o.avgBits = avgBits
        o.maxError = maxError
        o.maxErrorScope = maxErrorScope
        o.sensitivity = sensitivity
        o.firstPoint = firstPoint ?? .minMax
        o.cost = cost ?? .weights
        o.skipLayers = skipLayers.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        o.cle = dfqOptions.cle
        o.biasCorrection = dfqOptions.biasCorrection
        o.adaround = dfqOptions.adaroundOptions
        o.out = out
        o.evaluate = evaluate
        o.split = split
        o.limit = limit
        o.diagnose = diagnose
        o.json = json
        o.report = report
        o.allowOverlap = allowOverlap
        o.engine = engine
        o.bootstrap = bootstrapOptions.plan
        o.threads = threads
        o.version = MPQ.configuration.version
        return o
    }

    func run() throws {
        Runtime.setThreads(threads)
        try asUsageError { try QuantizeJob(jobOptions).run() }
    }
}
