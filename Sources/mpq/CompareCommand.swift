import ArgumentParser
import Foundation
import Quantization
import SSD
import Tensors
import VOC

/// `mpq compare`: every method × budget quantized from one shared calibration, scored on one split.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare quantization methods at equal size budgets: mAP, average bits, extra MACs, bytes, time.",
        discussion: """
        Calibrates once (input Gram matrices of every conv over --calib-images images of --calib-split), then \
        for each method and each --avg-bits budget B quantizes the weights (point width b = floor(B)) and scores \
        the model on --split. multipoint, ocs and mixed spend the budget B; rtn, mse and gptq use b bits for every \
        weight, i.e. LESS than the budget (their real average bits are reported). mixed uses a proxy sensitivity \
        (each layer's relative output error from the same Gram matrices) unless --sensitivity gives a \
        sensitivity.json (mAP drops). Activations stay float. Writes compare.json, compare.md, compare.svg \
        (mAP vs average bits) and compare.html to --report.

        Examples:
          mpq compare --model ckpt.pth --voc-root VOCdevkit/VOC2007 --report runs/compare
          mpq compare --model ckpt.pth --voc-root VOCdevkit/VOC2007 --methods rtn,gptq,multipoint \\\\
              --avg-bits 3.25 --calib-images 16 --limit 100 --report runs/compare-quick
        """
    )

    @Option(help: ArgumentHelp("The float detector checkpoint.", valueName: "file"))
    var model: String

    @Option(name: .customLong("voc-root"), help: ArgumentHelp("The dataset folder.", valueName: "dir"))
    var vocRoot: String

    @Option(help: ArgumentHelp("Comma-separated methods: rtn, mse, gptq, ocs, mixed, multipoint.", valueName: "list"))
    var methods: String = "rtn,mse,ocs,mixed,gptq,multipoint"

    @Option(name: .customLong("avg-bits"), help: ArgumentHelp("Comma-separated average-bit budgets.", valueName: "list"))
    var avgBits: String = "3.25,4.25"

    @Option(name: .customLong("calib-images"), help: ArgumentHelp("Calibration images.", valueName: "n"))
    var calibImages: Int = 16

    @Option(name: .customLong("calib-split"), help: ArgumentHelp("The calibration split.", valueName: "name"))
    var calibSplit: String = "trainval"

    @Option(help: ArgumentHelp("The split to score.", valueName: "name"))
    var split: String = "test"

    @Option(help: ArgumentHelp("Score only the first N images of the split.", valueName: "n"))
    var limit: Int?

    @Option(help: ArgumentHelp("A sensitivity.json whose mAP drops drive mixed precision.", valueName: "file"))
    var sensitivity: String?

    @Option(help: ArgumentHelp("The number of threads; results do not depend on it.", valueName: "n"))
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: ArgumentHelp("The folder for compare.json, compare.md, compare.svg and compare.html.",
                               valueName: "dir"))
    var report: String

    static let knownMethods = ["rtn", "mse", "gptq", "ocs", "mixed", "multipoint"]

    var methodList: [String] { methods.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    var budgetList: [Double] { avgBits.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        for m in methodList where !Self.knownMethods.contains(m) {
            throw ValidationError("Unknown method '\(m)'; choose from \(Self.knownMethods.joined(separator: ", ")).")
        }
        guard !methodList.isEmpty else { throw ValidationError("--methods must name at least one method.") }
        let budgets = avgBits.split(separator: ",")
        guard !budgets.isEmpty, budgetList.count == budgets.count,
              budgetList.allSatisfy({ $0 >= 2 && $0 <= 8 }) else {
            throw ValidationError("--avg-bits takes numbers from 2 to 8 separated by commas, got '\(avgBits)'.")
        }
        guard calibImages >= 1 else { throw ValidationError("--calib-images must be at least 1.") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit).") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads).") }
    }

    func run() throws {
        Runtime.setThreads(threads)
        let (float, _) = try SSDModel.load(contentsOf: URL(fileURLWithPath: model))
        let calibration = try EvaluationInputs.open(vocRoot: vocRoot, split: calibSplit, classes: nil)
        let start = Date()
        let grams = try CompareCalibration.grams(model: float, dataset: calibration, images: calibImages)
        let layers = try ModelBaselines.layers(of: float, grams: grams)
        Output.note("calibrated \(layers.count) convs on \(min(calibImages, calibration.imageIDs.count)) "
            + "\(calibSplit) images in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        let costs = try sensitivity.map { try CompareSensitivity.load(URL(fileURLWithPath: $0)) }
        let dataset = try EvaluationInputs.open(vocRoot: vocRoot, split: split, classes: nil)
        guard float.classes == dataset.classes.count + 1 else {
            throw ValidationError("\(model) detects \(float.classes - 1) classes (plus background) but "
                + "\(dataset.classes.sourceDescription) has \(dataset.classes.count).")
        }
        let truth = try EvaluationInputs.groundTruth(dataset: dataset, threads: threads)
        let folder = URL(fileURLWithPath: report)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

        func score(_ m: SSDModel, tag: String) throws -> Double {
            let runner = EvaluationRunner(
                groundTruth: truth, detector: SSDImageDetector(Detector(model: m)),
                loadImage: { id in try JPEGDecoder.decode(fileAt: dataset.imageURL(id)) },
                options: .init(split: split, resultsFolder: folder.appendingPathComponent("runs/\(tag)"), limit: limit,
                               detectorIdentity: "\(model) \(tag) \(UUID().uuidString)"))
            return try runner.run().result?.mAP ?? 0
        }
        var rows: [CompareRow] = []
        let t0 = Date()
        let fp = try score(float, tag: "fp32")
        rows.append(CompareRow(method: "fp32", budget: nil, pointBits: 32, map: fp, averageBits: 32, extraMACs: 0,
                               modelBytes: 4 * layers.reduce(0) { $0 + $1.weightCount + $1.floatParameters },
                               seconds: Date().timeIntervalSince(t0)))
        for budget in budgetList {
            let b = Int(budget.rounded(.down))
            for method in methodList {
                let t = Date()
                let result: BaselineModelResult
                switch method {
                case "rtn": result = try ModelBaselines.uniform(layers, bits: b, method: .rtn, threads: threads)
                case "mse": result = try ModelBaselines.uniform(layers, bits: b, method: .mse, threads: threads)
                case "gptq": result = try ModelBaselines.gptq(layers, bits: b, threads: threads)
                case "ocs":
                    let f = try OCS.extraFraction(matchingAverageBits: budget, bits: b)
                    result = try ModelBaselines.ocs(layers, bits: b, extraFraction: f, threads: threads)
                case "mixed":
                    result = try ModelBaselines.mixed(layers, averageBits: budget, sensitivities: costs,
                                                      threads: threads).model
                default: result = try ModelBaselines.multipoint(layers, bits: b, averageBits: budget, threads: threads)
                }
                let quantized = try ModelBaselines.install(result, into: float)
                let map = try score(quantized, tag: "\(method)-\(budget)")
                rows.append(CompareRow(method: method, budget: budget, pointBits: b, map: map,
                                       averageBits: result.averageWeightBits, extraMACs: result.extraMACs,
                                       modelBytes: result.modelBytes, seconds: Date().timeIntervalSince(t)))
                Output.note(String(format: "%@ @ %.2f: mAP %.4f, %.3f bits", method, budget, map,
                                   result.averageWeightBits))
            }
        }
        let summary = CompareSummary(model: model, split: split, limit: limit, calibImages: calibImages,
                                     calibSplit: calibSplit, rows: rows)
        try CompareReport.write(summary, to: folder)
        print(CompareReport.markdownTable(rows), terminator: "")
    }
}
