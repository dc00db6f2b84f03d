import ArgumentParser
import Foundation
import Quantization
import SSD
import Tensors
import Workflows

/// `mpq compare`: every method × budget quantized from one shared calibration, scored on one split.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare quantization methods at equal size budgets: mAP, average bits, extra MACs, bytes, time.",
        discussion: """
        Calibrates once (input Gram matrices and activation ranges of every conv over --calib-images images of \
        --calib-split, never the scored images), then for each method and each --avg-bits budget B quantizes \
        through the same code path as mpq quantize (point width b = floor(B)) and scores the model on --split \
        with --abits activations (32 keeps them float; the fp32 row is always float). multipoint, ocs and mixed \
        spend the budget B; rtn, mse and gptq use b bits for every weight, i.e. LESS than the budget (their real \
        average bits are reported). mixed uses a proxy sensitivity (each layer's relative output error from the \
        same Gram matrices) unless --sensitivity gives a sensitivity.json (mAP drops). Without --model / \
        --voc-root the embedded demo detector / dataset are used. Writes compare.json, compare.md, compare.svg \
        (mAP vs average bits, with the 95% interval of each mAP as error bars) and compare.html to --report.

        Intervals: every model is scored on the same images, and one paired bootstrap over those images \
        (--bootstrap resamples, default 1000, 0 turns it off; --seed) gives each mAP a 95% interval (map_ci95), \
        each quantized row its difference to fp32 (delta_vs_fp32, delta_ci95) and, for the methods other than \
        rtn, its difference to rtn at the same budget (delta_vs_rtn, delta_vs_rtn_ci95); "n.s." in the table \
        marks a difference whose interval contains 0 (not significant).

        More methods: dfq (cross-layer equalization + rtn + bias correction), adaround (learned rounding at b \
        bits), multipoint-adaround (multipoint, each channel's last point re-rounded by AdaRound) and \
        multipoint-random (multipoint's extra points per layer on random channels, seeded by --seed: the \
        ablation that shows whether adaptivity matters). --cle and --bias-correction add the DFQ steps to every \
        method (rows named like rtn+cle+bc). With multipoint rows, the report also holds \
        errors_vs_points*.svg (layer output error vs points per channel: rtn, mse, multipoint) and \
        points_per_channel_*.svg (the histogram of points per channel per layer); these figures are drawn by \
        an unsharded run, for the rows it quantized itself (not by --shard runs or mpq merge).

        Resumable and sharded: the work is split into units, the fp32 model first and then each (budget, \
        method) pair in table order, and every finished unit is appended to <report>/units.journal (each \
        unit's detections are in <report>/runs/<unit>, itself resumable per image); run the same command \
        again after a kill and only the missing units run (a folder holding another run's journal is \
        refused). --shard I/N runs units I, I+N, I+2N, ... (I from 0 to N-1) and writes only its units into \
        --report; `mpq merge --out DIR SHARD_DIR...` writes the report of the whole run from the shard folders \
        (it reads the dataset where the shards did, for the bootstrap), the same files one process writes.

        Examples:
          mpq compare --limit 50 --report runs/compare-demo
          mpq compare --model ckpt.pth --voc-root VOCdevkit/VOC2007 \\
              --report runs/compare
          mpq compare --model ckpt.pth --voc-root VOCdevkit/VOC2007 \\
              --methods rtn,gptq,multipoint --avg-bits 3.25 --abits 32 \\
              --calib-images 16 --limit 100 --report runs/compare-quick
          mpq compare --limit 50 --bootstrap 2000 --seed 7 --report runs/compare-ci
          mpq compare --methods rtn,dfq,adaround,multipoint,multipoint-random \\
              --avg-bits 4.25 --limit 50 --report runs/compare-dfq
          mpq compare --methods rtn,multipoint --avg-bits 4.25 --limit 50 \\
              --shard 0/2 --report runs/compare/shard-0
        """
    )

    @OptionGroup var modelOption: FloatModelOption
    var model: String? { modelOption.model }

    @OptionGroup var datasetOption: DatasetOption
    var vocRoot: String? { datasetOption.vocRoot }

    @Option(help: ArgumentHelp("Comma-separated methods, from: "
        + WeightQuantizationMethod.allCases.map(\.rawValue).joined(separator: ", ") + ".", valueName: "list"))
    var methods: String = "rtn,mse,ocs,mixed,gptq,multipoint"

    @Option(name: .customLong("avg-bits"), help: ArgumentHelp("Comma-separated average-bit budgets.", valueName: "list"))
    var avgBits: String = "3.25,4.25,6.25,8.25"

    @Option(help: ArgumentHelp("The activation bit width for every method (2 to 8); 32 keeps activations float.",
                               valueName: "bits"))
    var abits: Int = 8

    @OptionGroup var calibration: CalibrationOptions
    var calibSplit: String { calibration.calibSplit }
    var calibImages: Int { calibration.count(default: 16) }

    @Option(help: ArgumentHelp("The split to score.", valueName: "name"))
    var split: String = "test"

    @Option(help: ArgumentHelp("Score only the first N images of the split.", valueName: "n"))
    var limit: Int?

    @Option(help: ArgumentHelp("A sensitivity.json whose mAP drops drive mixed precision.", valueName: "file"))
    var sensitivity: String?

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    @OptionGroup var engineOption: EngineOption
    var engine: QuantizedEngine { engineOption.engine }

    @Option(help: ArgumentHelp("The folder for compare.json, compare.md, compare.svg and compare.html.",
                               valueName: "dir"))
    var report: String

    @Option(help: ArgumentHelp("Multipoint rows: what the budget counts, weights (stored bits, the default), macs "
        + "(multiply-adds per image), int8-macs (multiply-adds with rows in blocks of 16, as the int8 engine runs "
        + "them) or int8-time (the int8 engine's time: int8-macs plus depthwise levels and output passes).",
        valueName: "kind"))
    var cost: AllocationCost?

    @Option(help: ArgumentHelp("Run one shard of the units (fp32, then each budget x method): I/N runs units I, "
        + "I+N, ... (I from 0 to N-1) into --report; combine the shards with mpq merge.", valueName: "I/N"))
    var shard: String?

    @OptionGroup var bootstrapOptions: BootstrapOptions

    @OptionGroup var dfqOptions: DFQOptions

    static let knownMethods = WeightQuantizationMethod.allCases.map(\.rawValue)

    var methodList: [String] { methods.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    var budgetList: [Double] { avgBits.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        for m in methodList where !Self.knownMethods.contains(m) {
            throw ValidationError("Unknown method '\(m)'; choose from \(Self.knownMethods.joined(separator: ", ")).")
        }
        guard !methodList.isEmpty else { throw ValidationError("--methods must name at least one method.") }
        if let twice = methodList.first(where: { m in methodList.filter { $0 == m }.count > 1 }) {
            throw ValidationError("--methods names '\(twice)' twice.")
        }
        if let twice = budgetList.first(where: { b in budgetList.filter { $0 == b }.count > 1 }) {
            throw ValidationError("--avg-bits names \(twice) twice.")
        }
        let budgets = avgBits.split(separator: ",")
        guard !budgets.isEmpty, budgetList.count == budgets.count,
              budgetList.allSatisfy({ $0 >= 2 && $0 < 9 }) else {
            throw ValidationError("--avg-bits takes numbers from 2 to below 9 (8.25: 8-bit points) separated by "
                + "commas, got '\(avgBits)'.")
        }
        guard abits == 32 || (2...8).contains(abits) else {
            throw ValidationError("--abits must be between 2 and 8, or 32 for float activations; got \(abits).")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit).") }
        _ = try asUsageError { try UnitShard.parse(shard) }
    }

    /// The job's settings from the flags.
    var jobOptions: CompareJob.Options {
        var o = CompareJob.Options()
        o.model = model
        o.vocRoot = vocRoot
        o.methods = methodList
        o.budgets = budgetList
        o.abits = abits
        o.calibSplit = calibSplit
        o.calibImages = calibImages
        o.split = split
        o.limit = limit
        o.sensitivity = sensitivity
        o.engine = engine
        o.report = report
        o.cost = cost
        o.shard = shard
        o.bootstrap = bootstrapOptions.plan
        o.cle = dfqOptions.cle
        o.biasCorrection = dfqOptions.biasCorrection
        o.adaround = dfqOptions.adaroundOptions
        o.threads = threads
        return o
    }

    func run() throws {
        Runtime.setThreads(threads)
        switch try asUsageError({ try CompareJob(jobOptions).run() }) {
        case .shard(let shard, let rows):
            print("compare: shard \(shard) has its units in \(report) (\(rows) run now); combine the shards "
                + "with mpq merge")
        case .report(let summary):
            print(CompareReport.markdownTable(summary.rows) + CompareReport.intervalNote(summary), terminator: "")
        }
    }
}
