import Foundation
import Evaluation
import VOC

/// The paired bootstrap of a job's scored models: how many resamples (0 turns it off) and the seed of its
/// SplitMix64 generator (the CLI's `--bootstrap N --seed S`).
public struct BootstrapPlan: Sendable {
    public let resamples: Int
    public let seed: UInt64

    public init(resamples: Int = MAPBootstrap.defaultResamples, seed: UInt64 = MAPBootstrap.defaultSeed) {
        self.resamples = resamples
        self.seed = seed
    }

    /// The paired bootstrap of `models` on `truth`, or nil with 0 resamples.
    public func run(_ truth: GroundTruth, _ models: [[[ScoredBox]]], metric: APMetric = .voc07,
                    protocol evaluationProtocol: EvaluationProtocol = .devkit) -> MAPBootstrap? {
        guard resamples > 0 else { return nil }
        return MAPBootstrap.run(groundTruth: truth, models: models, metric: metric, protocol: evaluationProtocol,
                                resamples: resamples, seed: seed)
    }

    public func settings(images: Int) -> EvaluationReport.JSON.BootstrapSettings? {
        resamples > 0 ? .init(resamples: resamples, seed: seed, images: images) : nil
    }
}

/// How intervals read in tables.
public enum IntervalText {
    /// `[0.6123, 0.7012]` (values times `scale`).
    public static func bracket(_ i: MAPBootstrap.Interval?, scale: Double = 1, digits: Int = 4) -> String {
        guard let i else { return "-" }
        return "[" + String(format: "%.\(digits)f", i.lo * scale) + ", " + String(format: "%.\(digits)f", i.hi * scale)
            + "]"
    }

    /// `±0.0312`: half the interval's width.
    public static func plusMinus(_ i: MAPBootstrap.Interval?, scale: Double = 1, digits: Int = 4) -> String {
        guard let i else { return "" }
        return "±" + String(format: "%.\(digits)f", i.halfWidth * scale)
    }

    /// For a difference: "significant" when the interval excludes 0, else "not significant".
    static func significance(_ i: MAPBootstrap.Interval?) -> String {
        guard let i else { return "" }
        return i.containsZero ? "not significant" : "significant"
    }

    /// `"; the full-set difference lies outside its interval (…)"` when `delta` is outside `i`, else "". A
    /// percentile interval can miss its own estimate, most often with tiny differences under the 11-point
    /// metric (docs/evaluation.md, "The interval").
    public static func outsideNote(_ delta: Double?, _ i: MAPBootstrap.Interval?) -> String {
        guard let delta, let i, !i.contains(delta) else { return "" }
        return "; the full-set difference lies outside its interval "
            + "(possible for a tiny difference: docs/evaluation.md, \"The interval\")"
    }

    /// The footnote under a table with intervals.
    public static func footnote(_ boot: MAPBootstrap?) -> String {
        guard let boot else { return "" }
        return "95% intervals: paired bootstrap, \(boot.resamples) resamples of the \(boot.imageCount) scored images "
            + "(seed \(boot.seed)); a difference is not significant when its interval contains 0.\n"
    }
}

/// `evaluate --baseline`: the baseline's detections on the images this run scored.
enum Baseline {
    /// Why a baseline results folder cannot be paired with this run.
    public struct Mismatch: LocalizedError, CustomStringConvertible {
        public let description: String
        public var errorDescription: String? { description }
        public init(description: String) { self.description = description }
    }

    /// Checks that `folder` (written by `mpq evaluate`) scored the same split, classes and images as this run,
    /// then reads its result files. Every refusal is one line that says why.
    static func load(folder: URL, split: String, truth: GroundTruth) throws -> [[ScoredBox]] {
        let name = folder.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: name, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Mismatch(description: "--baseline \(name): no such results folder or model file")
        }
        guard let recorded = EvaluationJournal.recordedRun(in: folder) else {
            throw Mismatch(description: "--baseline \(name): no \(EvaluationJournal.fileName) (not a results folder "
                + "written by mpq evaluate), so the images it scored cannot be checked")
        }
        if let other = recorded.split, other != split {
            throw Mismatch(description: "--baseline \(name) holds results for split '\(other)', this run scores "
                + "'\(split)'")
        }
        if let names = recorded.classNames, names != truth.classNames {
            throw Mismatch(description: "--baseline \(name) was scored with the classes "
                + "\(names.joined(separator: ",")), this run with \(truth.classNames.joined(separator: ","))")
        }
        let mine = Set(truth.imageIDs), theirs = Set(recorded.imageIDs)
        if mine != theirs {
            let missing = truth.imageIDs.first { !theirs.contains($0) }
            let extra = recorded.imageIDs.first { !mine.contains($0) }
            let example = missing.map { "e.g. \($0) is missing from it" } ?? extra.map { "e.g. it has \($0)" } ?? ""
            throw Mismatch(description: "--baseline \(name) covers \(theirs.count) images, this run \(mine.count), "
                + "not the same image set (\(example)); run both with the same --split, --limit and --shard")
        }
        let loaded = try ResultFolders.load([folder], split: split, groundTruth: truth)
        for note in loaded.notes { Output.note("baseline: " + note) }
        return loaded.detections
    }
}
