import ArgumentParser
import Foundation
import Quantization
import SSD
import Tensors
import VOC

extension LayerwiseQuantizer.Method: ExpressibleByArgument {}
extension SensitivityOperand: ExpressibleByArgument {}

/// `mpq sensitivity`: which layers hurt when quantized.
struct Sensitivity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sensitivity",
        abstract: "Quantize each convolution alone at several bit widths and report the mAP drop and output SQNR.",
        discussion: """
        For every convolution and every --bits value, only that layer's weights are quantized (the rest stays \
        float) and the detector is scored: the mAP drop on the first --limit images of --split, and the \
        SQNR of the raw detector outputs (class logits and box offsets) on --calib-images calibration images \
        from --calib-split (never the evaluation images). rtn = per-channel round-to-nearest; multipoint = \
        the multipoint allocation confined to that layer at a budget of bits + 0.25 average bits. Each run \
        starts from the float activations cached at that layer, not from the image (--no-activation-cache \
        turns this off; the results are the same).

        --quantize says what is quantized in that layer: weights (the default, as above; activations stay \
        float), activations (only the layer's input, per-tensor at each --bits width with the min-max clip of \
        the calibration images, unsigned when the input is non-negative; weights float; --method does not \
        apply) or both (weights by --method and the input grid, at the same width). mpq quantize --method \
        mixed --sensitivity takes only a weights report.

        Writes into --report: sensitivity.json, sensitivity.csv, sensitivity.md (ranked, most sensitive \
        first), sensitivity_map_drop.svg, sensitivity_heatmap.svg and report.html. Without --model and \
        --voc-root the embedded demo model and dataset are used.

        Examples:
          mpq sensitivity --report sens/
          mpq sensitivity --model mb2-ssd-lite.pth --voc-root VOCdevkit/VOC2007 \\
              --split test --bits 2,3,4,8 \\
              --limit 100 --report sens/
          mpq sensitivity --method multipoint --bits 2,4 --limit 50 --report sens-mp/
          mpq sensitivity --quantize activations --bits 4,6,8 --limit 50 \\
              --report sens-act/
        """
    )

    @OptionGroup var modelOption: FloatModelOption
    var model: String? { modelOption.model }

    @OptionGroup var datasetOption: DatasetOption
    var vocRoot: String? { datasetOption.vocRoot }

    @Option(help: ArgumentHelp("The evaluation split, ImageSets/Main/<name>.txt.", valueName: "name"))
    var split: String = "test"

    @Option(help: ArgumentHelp("Comma-separated weight bit widths, each 2 to 8.", valueName: "list"))
    var bits: String = "2,3,4,8"

    @Option(help: "The weight quantizer: rtn or multipoint.")
    var method: LayerwiseQuantizer.Method = .rtn

    @Option(help: ArgumentHelp("What is quantized in each layer: "
        + SensitivityOperand.allCases.map(\.rawValue).joined(separator: ", ") + ".", valueName: "what"))
    var quantize: SensitivityOperand = .weights

    @Option(name: [.customLong("limit"), .customLong("eval-images")],
            help: "How many images of the split (from the start) score mAP (--eval-images is the old name).")
    var evalImages: Int = 100


    @OptionGroup var calibration: CalibrationOptions
    var calibSplit: String { calibration.calibSplit }
    var calibImages: Int { calibration.count(default: 16) }

    @Option(help: ArgumentHelp("The folder the report files go into.", valueName: "dir"))
    var report: String

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    @Flag(name: .customLong("no-activation-cache"),
          help: ArgumentHelp("Run every image from the start for each layer instead of from the cached float "
              + "activations at the layer (same results, slower; for timing the cache)."))
    var noActivationCache = false

    static func parseBits(_ text: String) throws -> [Int] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var out: [Int] = []
        for p in parts {
            guard let b = Int(p), (2...8).contains(b) else {
                throw ValidationError("--bits takes comma-separated integers from 2 to 8, got '\(p)'.")
            }
            if !out.contains(b) { out.append(b) }
        }
        guard !out.isEmpty else { throw ValidationError("--bits needs at least one bit width.") }
        return out
    }

    func validate() throws {
        _ = try Self.parseBits(bits)
        if quantize == .activations && method != .rtn {
            throw ValidationError("--method \(method.rawValue) quantizes weights, which --quantize activations keeps "
                + "float: use --quantize both, or drop --method.")
        }
        guard evalImages >= 1 else { throw ValidationError("--limit must be at least 1, got \(evalImages).") }
        guard !report.isEmpty else { throw ValidationError("--report needs a folder.") }
        for (flag, value) in [("--split", split), ("--calib-split", calibSplit)] where value.isEmpty || value.contains("/") {
            throw ValidationError("\(flag) takes a split name such as test or trainval, not '\(value)'.")
        }
    }

    func run() throws {
        Runtime.setThreads(threads)
        let inputs = try JobInputs.resolve(model: model, vocRoot: vocRoot)
        let settings = try SensitivityJob(inputs: inputs, split: split, bits: Self.parseBits(bits), method: method,
                                          evalImages: evalImages, calibImages: calibImages, calibSplit: calibSplit,
                                          preferCalibFile: false, threads: threads,
                                          cacheActivations: !noActivationCache, quantize: quantize)
        let result = try settings.run()
        try SensitivityReportFiles.write(result.report, settings: result.settings, to: URL(fileURLWithPath: report))
        print(SensitivityJob.terminalTable(result.report, top: 10), terminator: "")
        print(String(format: "sensitivity: %d layers x %d bit widths in %.1f s; report in %@",
                     result.report.layers.count, try Self.parseBits(bits).count, result.seconds, report))
    }
}

/// The model and dataset of a job, falling back to the embedded demo data (said in one line).
struct JobInputs {
    let model: SSDModel
    let modelPath: String
    let root: URL
    let classes: ClassList

    static func resolve(model: String?, vocRoot: String?) throws -> JobInputs {
        let (modelURL, resolvedRoot) = try EmbeddedDemo.resolve(model: model, vocRoot: vocRoot)
        guard let root = resolvedRoot else { throw DemoDataError(message: "no dataset given") }
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            throw DemoDataError(message: "\(modelURL.path): model file does not exist")
        }
        let loaded = try SSDModel.load(contentsOf: modelURL)
        let classes = try ClassList.forDataset(root: root)
        guard loaded.model.classes == classes.count + 1 else {
            throw DemoDataError(message: "\(modelURL.path): the model has \(loaded.model.classes - 1) classes but "
                + "\(classes.sourceDescription) has \(classes.count)")
        }
        return JobInputs(model: loaded.model, modelPath: modelURL.path, root: root, classes: classes)
    }
}
