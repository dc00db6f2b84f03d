import Evaluation
import Foundation
import Imaging
import SSD
import VOC

/// Everything `mpq evaluate` does between parsing and printing: run a model over a split into a resumable results
/// folder (sharded or not), score it, optionally pair it with a baseline (a results folder or a model run here),
/// and compose the table and the JSON document.
public struct EvaluateJob {
    /// The command's settings, validated by the CLI.
    public struct Options {
        public var model: String?
        /// Forces the architecture instead of recognising it from the tensor names.
        public var architecture: Architecture?
        public var vocRoot: String?
        public var split = "test"
        /// The results folder (nil: `runs/<model>/<split>[...]`).
        public var results: String?
        public var limit: Int?
        public var engine: QuantizedEngine = .int8
        public var shard: Shard = .all
        public var metric: APMetric = .voc07
        public var evaluationProtocol: EvaluationProtocol = .devkit
        /// A class list file.
        public var classes: String?
        /// A results folder or a model file to compare with.
        public var baseline: String?
        public var bootstrap = BootstrapPlan()
        public var threads = 1

        public init() {}
    }

    /// The scores: the JSON document, the table (intervals and baseline included) and the results folder.
    public struct Result {
        public let document: EvaluationReport.JSON
        public let table: String
        public let folder: URL
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    /// - Returns: nil when the run stopped before scoring (nothing to report).
    /// - Throws: `Baseline.Mismatch` when the baseline cannot be paired with this run, `ClassCountMismatch`, the
    ///   errors of loading, running and scoring.
    public func run(note: @escaping (String) -> Void = Output.note) throws -> Result? {
        let o = options
        let model = o.model, vocRoot = o.vocRoot, split = o.split, classes = o.classes, threads = o.threads
        let baseline = o.baseline, results = o.results, metric = o.metric, evaluationProtocol = o.evaluationProtocol
        let shardSpec = o.shard
        let (modelURL, root) = try EmbeddedDemo.resolve(model: model, vocRoot: vocRoot)
        let dataset = try EvaluationInputs.open(vocRoot: root?.path ?? "", split: split, classes: classes)
        let truth = try EvaluationInputs.groundTruth(dataset: dataset, threads: threads)
        let folder = URL(fileURLWithPath: results ?? defaultResults(model: modelURL.path, shard: shardSpec))
        // A baseline that cannot be paired is refused before the long run, when that can be known.
        let baselineIsFolder = try baseline.map { try Self.isFolder($0) }
        if let baseline, baselineIsFolder == true {
            let selection = shardSpec.positions(total: truth.imageIDs.count, limit: o.limit)
            _ = try Baseline.load(folder: URL(fileURLWithPath: baseline), split: split, truth: truth.subset(selection))
        }
        guard let outcome = try evaluate(modelURL, architecture: o.architecture, truth: truth, dataset: dataset,
                                         folder: folder, shard: shardSpec, note: note),
              let result = outcome.result, let scoredTruth = outcome.scoredGroundTruth,
              let detections = outcome.detections else { return nil }
        for line in outcome.notes { note(line) }

        var baselineDetections: [[ScoredBox]]?
        var baselineName = ""
        if let baseline {
            if baselineIsFolder == true {
                baselineName = baseline
                baselineDetections = try Baseline.load(folder: URL(fileURLWithPath: baseline), split: split,
                                                       truth: scoredTruth)
            } else {
                let baselineFolder = folder.appendingPathComponent("baseline")
                baselineName = baselineFolder.path
                note("baseline: \(baseline), results in \(baselineFolder.path)")
                let run = try evaluate(URL(fileURLWithPath: baseline), architecture: nil, truth: truth,
                                       dataset: dataset, folder: baselineFolder, shard: shardSpec, note: note)
                for line in run?.notes ?? [] { note("baseline: " + line) }
                baselineDetections = run?.detections
            }
        }
        let models = [detections] + (baselineDetections.map { [$0] } ?? [])
        let boot = o.bootstrap.run(scoredTruth, models, metric: metric, protocol: evaluationProtocol)
        var document = EvaluationReport.JSON(result)
        document.model = modelURL.path
        document.split = split
        document.images = scoredTruth.imageIDs.count
        document.mapCI95 = boot?.interval(0)
        document.bootstrap = o.bootstrap.settings(images: scoredTruth.imageIDs.count)
        var table = EvaluationReport.table(result)
        if let boot {
            table += "mAP 95% interval " + IntervalText.bracket(boot.interval(0)) + " ("
                + IntervalText.plusMinus(boot.interval(0)) + ")\n"
        }
        if let baselineDetections {
            let base = DetectionEvaluator.evaluate(groundTruth: scoredTruth, detections: baselineDetections,
                                                   metric: metric, protocol: evaluationProtocol)
            let delta = result.mAP.flatMap { m in base.mAP.map { m - $0 } }
            document.baseline = .init(results: baselineName, mAP: base.mAP, mapCI95: boot?.interval(1))
            document.deltaVsBaseline = delta
            document.deltaCI95 = boot?.differenceInterval(0, minus: 1)
            table += "baseline mAP " + EvaluationReport.format(base.mAP)
                + (boot.map { " " + IntervalText.bracket($0.interval(1)) } ?? "") + " (\(baselineName))\n"
            table += "mAP - baseline mAP " + (delta.map { String(format: "%+.4f", $0) } ?? "n/a")
            if let d = document.deltaCI95 {
                table += " " + IntervalText.bracket(d) + " " + IntervalText.significance(d)
                    + (d.containsZero ? " (the interval contains 0)" : " (the interval excludes 0)")
                    + IntervalText.outsideNote(delta, d)
            }
            table += "\n"
        }
        table += IntervalText.footnote(boot)
        return Result(document: document, table: table, folder: folder)
    }

    /// Whether `path` is a folder (a results folder) rather than a model file; one clear line if it is neither.
    static func isFolder(_ path: String) throws -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Baseline.Mismatch(description: "--baseline \(path): no such results folder or model file")
        }
        return isDirectory.boolValue
    }

    /// Runs one model over the split into `folder` (resumable) and scores it; nil if the run stopped early.
    func evaluate(_ modelURL: URL, architecture: Architecture?, truth: GroundTruth, dataset: VOCDataset, folder: URL,
                  shard shardSpec: Shard, note: (String) -> Void) throws -> EvaluationRunner.Outcome? {
        let o = options, split = o.split
        let model = modelURL.path
        let file = try QuantizedFile.load(modelURL, architecture: architecture)
        let loaded = file.model, format = file.format
        let (quantization, notice) = file.quantized?.execution(o.engine) ?? (nil, nil)
        if let notice { note("\(model): \(notice)") }
        guard loaded.classes == dataset.classes.count + 1 else {
            throw ClassCountMismatch(model: model, modelClasses: loaded.classes - 1,
                                     list: dataset.classes.sourceDescription, listClasses: dataset.classes.count)
        }
        note("\(model): \(loaded.architecture.rawValue), \(format.rawValue); \(truth.imageIDs.count) images "
            + "in \(split); results in \(folder.path)")
        let size = (try? FileManager.default.attributesOfItem(atPath: modelURL.path)[.size] as? Int) ?? nil
        let identity = "\(modelURL.standardizedFileURL.path) size=\(size.map(String.init) ?? "?") "
            + "arch=\(loaded.architecture.rawValue) score>0.01"
            + (quantization?.integer != nil ? " engine=int8" : "")
        let runner = EvaluationRunner(
            groundTruth: truth, detector: SSDImageDetector(Detector(model: loaded, quantization: quantization)),
            loadImage: { id in try JPEGDecoder.decode(fileAt: dataset.imageURL(id)) },
            options: .init(split: split, resultsFolder: folder, limit: o.limit, shard: shardSpec, metric: o.metric,
                           evaluationProtocol: o.evaluationProtocol, detectorIdentity: identity))
        let reporter = ProgressReporter(label: "evaluate")
        let outcome = try runner.run(progress: reporter.update)
        return outcome.result == nil ? nil : outcome
    }

    /// `runs/<model>/<split>[-first<N>][-simulated][/shard-I-of-N]`: keyed by everything that changes the
    /// detections, so another --limit, engine or shard never meets this run's journal.
    func defaultResults(model: String, shard: Shard) -> String {
        let split = options.split, limit = options.limit, engine = options.engine
        let stem = URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
        let base = "runs/\(stem)/\(split)" + (limit.map { "-first\($0)" } ?? "")
            + (engine == .simulated ? "-simulated" : "")
        return shard.count > 1 ? "\(base)/shard-\(shard.index)-of-\(shard.count)" : base
    }
}
