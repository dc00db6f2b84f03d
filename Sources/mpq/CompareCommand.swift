import ArgumentParser
import Foundation
import Quantization
import SSD
import Tensors
import Evaluation
import Imaging
import VOC

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

        Examples:
          mpq compare --limit 50 --report runs/compare-demo
          mpq compare --model ckpt.pth --voc-root VOCdevkit/VOC2007 \\
              --report runs/compare
          mpq compare --model ckpt.pth --voc-root VOCdevkit/VOC2007 \\
              --methods rtn,gptq,multipoint --avg-bits 3.25 --abits 32 \\
              --calib-images 16 --limit 100 --report runs/compare-quick
          mpq compare --limit 50 --bootstrap 2000 --seed 7 --report runs/compare-ci
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

    @Option(help: ArgumentHelp("Multipoint rows: what the budget counts, weights (stored bits, the default) or macs "
        + "(multiply-adds per image).", valueName: "kind"))
    var cost: AllocationCost?

    @OptionGroup var bootstrapOptions: BootstrapOptions

    static let knownMethods = WeightQuantizationMethod.allCases.map(\.rawValue)

    var methodList: [String] { methods.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    var budgetList: [Double] { avgBits.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        for m in methodList where !Self.knownMethods.contains(m) {
            throw ValidationError("Unknown method '\(m)'; choose from \(Self.knownMethods.joined(separator: ", ")).")
        }
        guard !methodList.isEmpty else { throw ValidationError("--methods must name at least one method.") }
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
    }

    func run() throws {
        Runtime.setThreads(threads)
        let inputs = try JobInputs.resolve(model: model, vocRoot: vocRoot)
        let table = try sensitivity.map { try SensitivityTable.load(URL(fileURLWithPath: $0)) }
        let dataset = try VOCDataset(root: inputs.root, split: split, classes: inputs.classes)
        let truth = try EvaluationInputs.groundTruth(dataset: dataset, threads: threads)
        let scored = Array(truth.imageIDs.prefix(limit ?? Int.max))
        let start = Date()
        let calib = try SensitivityJob.calibrationSet(inputs, split: calibSplit, count: calibImages,
                                                      excluding: Set(scored), preferCalibFile: false, threads: threads)
        let stats = try CalibrationStatistics.collect(model: inputs.model, images: calib.images, collectGrams: true)
        Output.note("calibrated \(inputs.model.convolutions.count) convs on \(calib.source) in "
            + String(format: "%.1f s", Date().timeIntervalSince(start)))
        // Mixed precision's proxy costs do not depend on the budget: computed once for all of them.
        let costs = try table
            ?? (methodList.contains("mixed") && budgetList.count > 1
                ? ModelQuantizer.proxySensitivities(model: inputs.model, statistics: stats, threads: threads) : nil)
        let folder = URL(fileURLWithPath: report)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

        // The paired bootstrap keeps each model's matched detections (an image index and a flag each), not the boxes.
        let scoredTruth = truth.subset(Shard.all.positions(total: truth.imageIDs.count, limit: limit))
        var paired = MAPBootstrap.Models(groundTruth: scoredTruth, protocol: .devkit)
        func score(_ m: SSDModel, quantization: InputQuantization?, tag: String) throws -> Double {
            let runner = EvaluationRunner(
                groundTruth: truth, detector: SSDImageDetector(Detector(model: m, quantization: quantization)),
                loadImage: { id in try JPEGDecoder.decode(fileAt: dataset.imageURL(id)) },
                options: .init(split: split, resultsFolder: folder.appendingPathComponent("runs/\(tag)"), limit: limit,
                               detectorIdentity: "\(inputs.modelPath) \(tag) \(UUID().uuidString)"))
            let outcome = try runner.run()
            if bootstrapOptions.bootstrap > 0, let detections = outcome.detections {
                precondition(outcome.scoredGroundTruth?.imageIDs == scoredTruth.imageIDs, "compare: one image set")
                paired.add(detections)
            }
            return outcome.result?.mAP ?? 0
        }
        var rows: [CompareRow] = []
        let t0 = Date()
        let fp = try score(inputs.model, quantization: nil, tag: "fp32")
        let floatParameters = inputs.model.quantizableLayers.reduce(0) { $0 + $1.conv.weight.count + $1.biasCount }
        rows.append(CompareRow(method: "fp32", budget: nil, pointBits: 32, map: fp, averageBits: 32, extraMACs: 0,
                               modelBytes: 4 * floatParameters, seconds: Date().timeIntervalSince(t0)))
        for budget in budgetList {
            let b = Int(budget.rounded(.down))
            for name in methodList {
                guard let method = WeightQuantizationMethod(rawValue: name) else { continue }
                let t = Date()
                let q = try ModelQuantizer.quantize(model: inputs.model, statistics: stats, options: .init(
                    method: method, weightBits: b, activationBits: abits,
                    // Mixed precision's widths stop at 8 bits: above 8 it is all-8-bit.
                    budget: method.spendsBudget ? .averageBits(method == .mixed ? min(budget, 8) : budget) : nil,
                    sensitivities: costs, cost: method == .multipoint ? cost ?? .weights : .weights, threads: threads))
                let (quantization, notice) = q.execution(engine)
                if let notice, rows.count == 1 { Output.note("compare: \(notice)") }
                let map = try score(q.model, quantization: quantization, tag: "\(name)-\(budget)")
                rows.append(CompareRow(method: name, budget: budget, pointBits: b, map: map,
                                       averageBits: q.accounting.averageWeightBits, extraMACs: q.accounting.extraMACs,
                                       modelBytes: q.accounting.modelBytes, seconds: Date().timeIntervalSince(t)))
                Output.note(String(format: "%@ @ %.2f: mAP %.4f, %.3f bits", name, budget, map,
                                   q.accounting.averageWeightBits))
            }
        }
        let boot = bootstrapOptions.bootstrap > 0
            ? paired.run(metric: .voc07, resamples: bootstrapOptions.bootstrap, seed: bootstrapOptions.seed) : nil
        CompareReport.addDifferences(&rows, boot)
        var summary = CompareSummary(model: inputs.modelPath, split: split, limit: limit, calibImages: calib.images.count,
                                     calibSplit: calibSplit, abits: abits, rows: rows)
        summary.bootstrap = bootstrapOptions.settings(images: scoredTruth.imageIDs.count)
        try CompareReport.write(summary, to: folder)
        print(CompareReport.markdownTable(rows) + CompareReport.intervalNote(summary), terminator: "")
    }
}
