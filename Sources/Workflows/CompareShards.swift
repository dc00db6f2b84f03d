import Foundation
import Quantization
import Evaluation
import VOC

/// `mpq compare` as units: unit 0 is the fp32 model, unit `1 + j · M + i` the `i`-th of the M `--methods` at the
/// `j`-th `--avg-bits` budget (the table's row order). A run records each finished unit's row in its folder's
/// `units.journal` and its detections in `runs/<tag>`; `--shard I/N` runs units I, I+N, ...; one process is the
/// shard 0/1. The report is always written from journals, by `write(_:to:threads:)`, whether they come from one
/// folder (one process) or from shards (`mpq merge`): the bootstrap reads every unit's detections back from its
/// `runs/<tag>` folder, in unit order, so it resamples exactly what one process resamples.
public enum CompareShards {
    public static let kind = "compare"

    struct Units {
        let methods: [String]
        let budgets: [Double]
        var count: Int { 1 + methods.count * budgets.count }

        func index(method: String, budget: Double) -> Int {
            1 + budgets.firstIndex(of: budget)! * methods.count + methods.firstIndex(of: method)!
        }

        /// `fp32` or the method name.
        func method(_ unit: Int) -> String { unit == 0 ? "fp32" : methods[(unit - 1) % methods.count] }
        func budget(_ unit: Int) -> Double? { unit == 0 ? nil : budgets[(unit - 1) / methods.count] }
        /// The unit's folder under `runs/`: `fp32` or `<method>-<budget>`.
        func tag(_ unit: Int) -> String { unit == 0 ? "fp32" : "\(method(unit))-\(budget(unit)!)" }
    }

    /// The journal header of a compare run: everything that changes a row, the bootstrap's settings included.
    static func header(_ c: CompareJob.Options, inputs: JobInputs, calibImages: Int, shard: Shard, units: Int) -> ShardRunHeader {
        func identity(_ path: String) -> String {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            return URL(fileURLWithPath: path).standardizedFileURL.path + ":" + (size.map(String.init) ?? "?")
        }
        let run = "model=\(identity(inputs.modelPath)) sensitivity=\(c.sensitivity.map(identity) ?? "none") "
            + "engine=\(c.engine.rawValue) cost=\((c.cost ?? .weights).rawValue)"
        let settings: [[String]] = [
            ["model", inputs.modelPath], ["voc-root", inputs.root.path], ["split", c.split],
            ["limit", c.limit.map(String.init) ?? "all"], ["calib-images", String(calibImages)],
            ["calib-split", c.calibSplit], ["abits", String(c.abits)], ["methods", c.methods.joined(separator: ",")],
            ["avg-bits", c.budgets.map { String($0) }.joined(separator: ",")],
            ["bootstrap", String(c.bootstrap.resamples)], ["seed", String(c.bootstrap.seed)],
            ["cle", String(c.cle)], ["bias-correction", String(c.biasCorrection)],
            ["adaround-iterations", String(c.adaround.iterations)],
        ]
        return ShardRunHeader(kind: kind, run: run, settings: settings, shard: shard.description, units: units)
    }

    static func record(_ unit: Int, _ row: CompareRow) -> ShardUnitRecord {
        ShardUnitRecord(unit: unit, seconds: row.seconds, fields: [
            row.method, row.budget.map { String($0) } ?? "-", String(row.pointBits), String(row.map),
            String(row.averageBits), String(row.extraMACs), String(row.modelBytes),
        ])
    }

    /// Writes compare.json, .md, .svg and .html of the whole run into `folder`: the one writer of one-process
    /// runs and merges.
    /// - Throws: `ShardJournalError` for a malformed record or settings, errors reading the dataset or a unit's
    ///   detections (the bootstrap needs both).
    @discardableResult
    /// - Parameter figures: the HTML section of the allocation figures (`FigureReport.section`; unsharded runs).
    public static func write(_ merged: MergedUnits, to folder: URL, threads: Int,
                      figures: String = "") throws -> CompareSummary {
        let header = merged.header
        let journal = merged.folders.first?.appendingPathComponent(ShardJournal.fileName).path ?? ""
        func setting(_ key: String) throws -> String {
            guard let v = header.setting(key) else {
                throw ShardJournalError(file: journal, line: 1, problem: "the header has no '\(key)' setting")
            }
            return v
        }
        let limitText = try setting("limit")
        let limit = Int(limitText)
        guard let calibImages = Int(try setting("calib-images")), let abits = Int(try setting("abits")),
              let resamples = Int(try setting("bootstrap")), let seed = UInt64(try setting("seed")),
              limit != nil || limitText == "all" else {
            throw ShardJournalError(file: journal, line: 1, problem: "malformed settings in the header")
        }
        let units = Units(methods: try setting("methods").split(separator: ",").map(String.init),
                          budgets: try setting("avg-bits").split(separator: ",").compactMap { Double($0) })
        guard units.count == header.units else {
            throw ShardJournalError(file: journal, line: 1, problem: "\(header.units) units, but the methods and "
                + "budgets make \(units.count)")
        }
        // A row's name is its method with the DFQ steps it does not imply (`rtn+cle+bc`, DFQSteps.label);
        // headers without these settings (older runs) had neither step.
        let cle = header.setting("cle") == "true", biasCorrection = header.setting("bias-correction") == "true"
        func label(_ u: Int) -> String {
            guard let m = WeightQuantizationMethod(rawValue: units.method(u)) else { return units.method(u) }
            return DFQSteps(method: m, cle: cle, biasCorrection: biasCorrection).label(m)
        }
        var rows: [CompareRow] = []
        for (u, record) in merged.records.enumerated() {
            let f = record.fields
            guard f.count == 7, f[0] == label(u), f[1] == (units.budget(u).map { String($0) } ?? "-"),
                  let pointBits = Int(f[2]), let map = Double(f[3]), let averageBits = Double(f[4]),
                  let extraMACs = Double(f[5]), let modelBytes = Int(f[6]) else {
                throw ShardJournalError(file: merged.folders[u].appendingPathComponent(ShardJournal.fileName).path,
                                        problem: "malformed record of unit \(u)")
            }
            rows.append(CompareRow(method: f[0], budget: units.budget(u), pointBits: pointBits, map: map,
                                   averageBits: averageBits, extraMACs: extraMACs, modelBytes: modelBytes,
                                   seconds: record.seconds))
        }
        let split = try setting("split")
        var bootstrap: EvaluationReport.JSON.BootstrapSettings?
        var boot: MAPBootstrap?
        if resamples > 0 {
            // The paired bootstrap keeps each model's matched detections (an image index and a flag each).
            let root = URL(fileURLWithPath: try setting("voc-root"))
            let dataset = try VOCDataset(root: root, split: split, classes: ClassList.forDataset(root: root))
            let truth = try EvaluationInputs.groundTruth(dataset: dataset, threads: threads)
            let scoredTruth = truth.subset(Shard.all.positions(total: truth.imageIDs.count, limit: limit))
            var paired = MAPBootstrap.Models(groundTruth: scoredTruth, protocol: .devkit)
            for u in 0..<units.count {
                let runs = merged.folders[u].appendingPathComponent("runs/\(units.tag(u))")
                paired.add(try ResultFolders.load([runs], split: split, groundTruth: scoredTruth).detections)
            }
            boot = paired.run(metric: .voc07, resamples: resamples, seed: seed)
            bootstrap = .init(resamples: resamples, seed: seed, images: scoredTruth.imageIDs.count)
        }
        CompareReport.addDifferences(&rows, boot)
        var summary = CompareSummary(model: try setting("model"), split: split, limit: limit, calibImages: calibImages,
                                     calibSplit: try setting("calib-split"), abits: abits, rows: rows)
        summary.bootstrap = bootstrap
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try CompareReport.write(summary, to: folder, figures: figures)
        return summary
    }
}
