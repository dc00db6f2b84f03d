import ArgumentParser
import Foundation
import Quantization
import Tensors
import Workflows

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

        Resumable and sharded: the work is split into units, one per (layer, bit width), and every finished \
        unit is appended to <report>/units.journal and flushed to disk; run the same command again after a \
        kill and only the missing units run (a folder holding another run's journal is refused). --shard I/N \
        runs units I, I+N, I+2N, ... (I from 0 to N-1; units in layer order, bit widths inside a layer) and \
        writes only its journal into --report; `mpq merge --out DIR SHARD_DIR...` writes the report of the \
        whole run from the shard folders, the same files one process writes.

        Examples:
          mpq sensitivity --report sens/
          mpq sensitivity --model mb2-ssd-lite.pth --voc-root VOCdevkit/VOC2007 \\
              --split test --bits 2,3,4,8 \\
              --limit 100 --report sens/
          mpq sensitivity --method multipoint --bits 2,4 --limit 50 --report sens-mp/
          mpq sensitivity --quantize activations --bits 4,6,8 --limit 50 \\
              --report sens-act/
          mpq sensitivity --bits 2,4 --limit 20 --shard 0/2 --report sens/shard-0
          mpq sensitivity --bits 2,4 --limit 20 --shard 1/2 --report sens/shard-1
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

    @Option(help: ArgumentHelp("Run one shard of the (layer, bit width) units: I/N runs units I, I+N, ... "
        + "(I from 0 to N-1) into --report's journal; combine the shards with mpq merge.", valueName: "I/N"))
    var shard: String?

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
        _ = try asUsageError { try UnitShard.parse(shard) }
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
        let shardSpec = try asUsageError { try UnitShard.parse(shard) }
        switch try SensitivityShards.runAndReport(settings, shard: shardSpec, folder: URL(fileURLWithPath: report)) {
        case .shard(let units, let resumed, let seconds):
            print(String(format: "sensitivity: shard %@ has its %d units in %@ (%d run now, %.1f s); combine the "
                + "shards with mpq merge", shardSpec.description, units, report, units - resumed, seconds))
        case .report(let written, let seconds):
            print(SensitivityJob.terminalTable(written, top: 10), terminator: "")
            print(String(format: "sensitivity: %d layers x %d bit widths in %.1f s; report in %@",
                         written.layers.count, try Self.parseBits(bits).count, seconds, report))
        }
    }
}
