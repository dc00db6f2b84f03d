import Evaluation
import Foundation
import Imaging
import Quantization
import SafeIO
import SSD
import VOC

/// Everything `mpq compare` does between parsing and printing: one shared calibration, then each unit (fp32, then
/// every budget × method) quantized, scored into `runs/<unit>` and journaled; an unsharded run then writes the
/// figures and the report files.
public struct CompareJob {
    /// The command's settings, validated by the CLI.
    public struct Options {
        public var model: String?
        public var vocRoot: String?
        public var methods: [String] = []
        public var budgets: [Double] = []
        public var abits = 8
        public var calibSplit = "trainval"
        public var calibImages = 16
        public var split = "test"
        public var limit: Int?
        /// A sensitivity.json whose mAP drops drive mixed precision.
        public var sensitivity: String?
        public var engine: QuantizedEngine = .int8
        /// The folder of the journal, the runs and the report files.
        public var report = ""
        /// Multipoint rows: what the budget counts (nil: weights).
        public var cost: AllocationCost?
        /// `I/N`, or nil for the whole run.
        public var shard: String?
        /// The paired bootstrap; its seed also seeds multipoint-random's draw.
        public var bootstrap = BootstrapPlan()
        public var cle = false
        public var biasCorrection = false
        public var adaround = AdaRoundOptions()
        public var threads = 1

        public init() {}
    }

    /// What a run did: a shard's units (how many it ran now), or the whole run's report.
    public enum Outcome {
        case shard(Shard, rowsRun: Int)
        case report(CompareSummary)
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    /// - Throws: `OptionsError` for a malformed shard; `ShardJournalError` when the folder holds another run; the
    ///   errors of loading, quantizing, scoring and writing.
    public func run(note: @escaping (String) -> Void = Output.note) throws -> Outcome {
        let o = options
        let threads = o.threads, split = o.split, limit = o.limit, abits = o.abits
        let methodList = o.methods, budgetList = o.budgets
        let inputs = try JobInputs.resolve(model: o.model, vocRoot: o.vocRoot)
        let table = try o.sensitivity.map { try SensitivityTable.load(URL(fileURLWithPath: $0)) }
        let dataset = try VOCDataset(root: inputs.root, split: split, classes: inputs.classes)
        let truth = try EvaluationInputs.groundTruth(dataset: dataset, threads: threads)
        let scored = Array(truth.imageIDs.prefix(limit ?? Int.max))
        let start = Date()
        let calib = try SensitivityJob.calibrationSet(inputs, split: o.calibSplit, count: o.calibImages,
                                                      excluding: Set(scored), preferCalibFile: false, threads: threads)
        let stats = try CalibrationStatistics.collect(model: inputs.model, images: calib.images, collectGrams: true)
        note("calibrated \(inputs.model.convolutions.count) convs on \(calib.source) in "
            + String(format: "%.1f s", Date().timeIntervalSince(start)))
        let folder = URL(fileURLWithPath: o.report)
        let shardSpec = try UnitShard.parse(o.shard)
        let units = CompareShards.Units(methods: methodList, budgets: budgetList)
        let journal = try ShardJournal(folder: folder, header: CompareShards.header(
            o, inputs: inputs, calibImages: calib.images.count, shard: shardSpec, units: units.count))
        let pending = UnitShard.units(shardSpec, of: units.count).filter { journal.finished[$0] == nil }
        note("compare: shard \(shardSpec): \(UnitShard.units(shardSpec, of: units.count).count) of "
            + "\(units.count) units, \(UnitShard.units(shardSpec, of: units.count).count - pending.count) already in "
            + journal.url.path)
        // Mixed precision's proxy costs do not depend on the budget: computed once for all of them.
        let costs = try table
            ?? (methodList.contains("mixed") && budgetList.count > 1 && pending.contains { units.method($0) == "mixed" }
                ? ModelQuantizer.proxySensitivities(model: inputs.model, statistics: stats, threads: threads) : nil)

        // Each unit's detections go to runs/<unit>, a resumable evaluation folder of this run.
        func score(_ m: SSDModel, quantization: InputQuantization?, tag: String) throws -> Double {
            let runner = EvaluationRunner(
                groundTruth: truth, detector: SSDImageDetector(Detector(model: m, quantization: quantization)),
                loadImage: { id in try JPEGDecoder.decode(fileAt: dataset.imageURL(id)) },
                options: .init(split: split, resultsFolder: folder.appendingPathComponent("runs/\(tag)"), limit: limit,
                               detectorIdentity: "\(inputs.modelPath) \(tag) \(journal.header.run)"))
            return try runner.run().result?.mAP ?? 0
        }
        // The equalized model and its calibration, made once if a row needs them.
        var equalized: (model: SSDModel, stats: CalibrationStatistics)?
        func prepared(_ steps: DFQSteps) throws -> (model: SSDModel, stats: CalibrationStatistics) {
            guard steps.cle else { return (inputs.model, stats) }
            if let equalized { return equalized }
            let m = try steps.equalize(inputs.model, note: { note("compare: " + $0) })
            let made = (m, try CalibrationStatistics.collect(model: m, images: calib.images, collectGrams: true))
            equalized = made
            return made
        }
        var figureModels: [(label: String, model: QuantizedModel)] = []
        var rows: [CompareRow] = []
        var noticed = false
        func record(_ unit: Int, _ row: CompareRow) throws {
            try journal.append(CompareShards.record(unit, row))
            rows.append(row)
        }
        if pending.contains(0) {
            let t0 = Date()
            let fp = try score(inputs.model, quantization: nil, tag: units.tag(0))
            let floatParameters = inputs.model.quantizableLayers.reduce(0) { $0 + $1.conv.weight.count + $1.biasCount }
            try record(0, CompareRow(method: "fp32", budget: nil, pointBits: 32, map: fp, averageBits: 32, extraMACs: 0,
                                     modelBytes: 4 * floatParameters, seconds: Date().timeIntervalSince(t0)))
        }
        for budget in budgetList {
            let b = Int(budget.rounded(.down))
            for name in methodList {
                guard let method = WeightQuantizationMethod(rawValue: name) else { continue }
                let unit = units.index(method: name, budget: budget)
                guard pending.contains(unit) else { continue }
                let t = Date()
                let steps = DFQSteps(method: method, cle: o.cle, biasCorrection: o.biasCorrection)
                let (floatModel, floatStats) = try prepared(steps)
                var q = try ModelQuantizer.quantize(model: floatModel, statistics: floatStats, options: .init(
                    method: method, weightBits: b, activationBits: abits,
                    // Mixed precision's widths stop at 8 bits: above 8 it is all-8-bit.
                    budget: method.spendsBudget ? .averageBits(method == .mixed ? min(budget, 8) : budget) : nil,
                    sensitivities: costs, cost: method.allocatesPoints ? o.cost ?? .weights : .weights,
                    adaround: o.adaround, seed: o.bootstrap.seed, threads: threads))
                q = try steps.correctBiases(q, float: floatModel, images: calib.images, note: { _ in })
                let label = steps.label(method)
                if method == .multipoint || method == .multipointRandom {
                    figureModels.append((label + String(format: "-%.2f", budget), q))
                }
                let (quantization, notice) = q.execution(o.engine)
                if let notice, !noticed { note("compare: \(notice)") }
                noticed = true
                let map = try score(q.model, quantization: quantization, tag: units.tag(unit))
                try record(unit, CompareRow(method: label, budget: budget, pointBits: b, map: map,
                                            averageBits: q.accounting.averageWeightBits,
                                            extraMACs: q.accounting.extraMACs, modelBytes: q.accounting.modelBytes,
                                            seconds: Date().timeIntervalSince(t)))
                note(String(format: "%@ @ %.2f: mAP %.4f, %.3f bits", label, budget, map,
                            q.accounting.averageWeightBits))
            }
        }
        if shardSpec.count > 1 { return .shard(shardSpec, rowsRun: rows.count) }
        // The figures need the quantized models: drawn for the rows this process quantized.
        var figures = ""
        if !figureModels.isEmpty {
            let svgs = try FigureReport.figures(
                model: inputs.model, statistics: stats, bits: Array(Set(budgetList.map { Int($0.rounded(.down)) })),
                skip: [], quantized: figureModels, threads: threads)
            for (file, svg) in svgs {
                try AtomicFile.write(svg, to: folder.appendingPathComponent(file))
            }
            figures = FigureReport.section(svgs)
        }
        return .report(try CompareShards.write(MergedUnits.load([folder], kind: CompareShards.kind), to: folder,
                                               threads: threads, figures: figures))
    }
}
