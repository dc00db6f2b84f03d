import VOC
import Imaging
import Foundation
import SafeIO

/// Runs a detector over an image set and scores it: the engine of `mpq evaluate`.
///
/// - Images are decoded on `decodeThreads` background threads, at most `prefetch` images ahead of the detector.
/// - Resumable: each finished image is appended to the folder's `EvaluationJournal` before the next one starts;
///   a rerun with the same settings skips the recorded images.
/// - When every selected image is done, the comp4 result files are (re)written atomically from the journal in
///   image-set order, then read back and scored exactly as `evaluate-detections` scores them, so the printed mAP
///   and a later `evaluate-detections` over the folder agree.
/// - A shard (or a `limit`) is scored against the ground truth of its own images only; merging the shards' folders
///   with `evaluate-detections` scores the whole split.
public struct EvaluationRunner {
    public struct Options: Sendable {
        public var split: String
        public var resultsFolder: URL
        public var limit: Int?
        public var shard: Shard
        public var metric: APMetric
        public var evaluationProtocol: EvaluationProtocol
        /// Identifies the detector (e.g. checkpoint path, size and preset) in the journal's settings line.
        public var detectorIdentity: String
        public var decodeThreads: Int
        public var prefetch: Int
        /// Stop after this many newly processed images (testing resume; a "kill" at a clean point).
        public var stopAfter: Int?

        public init(split: String, resultsFolder: URL, limit: Int? = nil, shard: Shard = .all, metric: APMetric = .voc07,
                    evaluationProtocol: EvaluationProtocol = .devkit, detectorIdentity: String,
                    decodeThreads: Int = 1, prefetch: Int = 8, stopAfter: Int? = nil) {
            self.split = split
            self.resultsFolder = resultsFolder
            self.limit = limit
            self.shard = shard
            self.metric = metric
            self.evaluationProtocol = evaluationProtocol
            self.detectorIdentity = detectorIdentity
            self.decodeThreads = decodeThreads
            self.prefetch = prefetch
            self.stopAfter = stopAfter
        }
    }

    /// Progress after each image: `done` of `total` selected images, `resumed` of which came from the journal.
    public struct Progress: Sendable {
        public let done: Int
        public let total: Int
        public let resumed: Int
        /// Seconds since this run started processing.
        public let elapsed: Double
    }

    public struct Outcome: Sendable {
        /// Positions in the image set of the images this run covers (shard and limit applied).
        public let selection: [Int]
        public let resumed: Int
        public let processed: Int
        /// nil when the run stopped early (`stopAfter`).
        public let result: EvaluationResult?
        public let notes: [String]
        /// What `result` scored: the ground truth of the selected images and the detections read back from the
        /// result files, one list per class (nil when the run stopped early). What `MAPBootstrap` resamples.
        public var scoredGroundTruth: GroundTruth? = nil
        public var detections: [[ScoredBox]]? = nil
    }

    public let groundTruth: GroundTruth
    public let detector: any ImageDetector
    public let loadImage: @Sendable (String) throws -> RGBImage
    public let options: Options

    /// - Parameters:
    ///   - groundTruth: the whole image set (split) with its objects.
    ///   - loadImage: decodes the image of an id (e.g. `JPEGImages/<id>.jpg`); called on background threads.
    public init(groundTruth: GroundTruth, detector: any ImageDetector,
                loadImage: @escaping @Sendable (String) throws -> RGBImage, options: Options) {
        self.groundTruth = groundTruth
        self.detector = detector
        self.loadImage = loadImage
        self.options = options
    }

    /// The journal settings line: everything that changes which images are run or what they produce.
    public var settings: String {
        "split=\(options.split) shard=\(options.shard) limit=\(options.limit.map(String.init) ?? "all") "
            + "classes=\(groundTruth.classNames.joined(separator: ",")) detector=\(options.detectorIdentity)"
    }

    /// `summary.md` (settings, mAP, per-class table) and `curves/<class>.svg` in the results folder, atomically.
    func writeReports(_ result: EvaluationResult, selection: [Int]) throws {
        let settings: [(String, String)] = [
            ("split", options.split), ("images", "\(selection.count) of \(groundTruth.imageIDs.count)"),
            ("shard", options.shard.description), ("limit", options.limit.map(String.init) ?? "none"),
            ("detector", options.detectorIdentity),
        ]
        let summary = EvaluationReport.markdown(result, title: "mpq evaluate: \(options.split)", settings: settings)
        try AtomicFile.write(summary, to: options.resultsFolder.appendingPathComponent(Self.summaryFileName))
        try PRCurveSVG.write(result, to: options.resultsFolder)
    }

    public static let summaryFileName = "summary.md"

    public func run(progress: ((Progress) -> Void)? = nil) throws -> Outcome {
        let selection = options.shard.positions(total: groundTruth.imageIDs.count, limit: options.limit)
        let journal = try EvaluationJournal(folder: options.resultsFolder, settings: settings)
        let ids = groundTruth.imageIDs
        let pending = selection.filter { journal.finished[ids[$0]] == nil }
        let resumed = selection.count - pending.count
        let start = Date()
        progress?(Progress(done: resumed, total: selection.count, resumed: resumed, elapsed: 0))

        let toRun = options.stopAfter.map { Array(pending.prefix($0)) } ?? pending
        let load = loadImage
        let queue = PrefetchQueue(count: toRun.count, depth: options.prefetch, workers: max(1, options.decodeThreads)) {
            try load(ids[toRun[$0]])
        }
        defer { queue.stop() }
        let classCount = groundTruth.classNames.count
        for (k, position) in toRun.enumerated() {
            let image = try queue.take(k)
            let detections = try detector.detect(image)
            if let bad = detections.first(where: { !(0..<classCount).contains($0.classIndex) }) {
                throw ResultFileError(file: ids[position], line: nil, problem: "the detector returned class index "
                    + "\(bad.classIndex), outside the \(classCount) classes")
            }
            if let bad = detections.first(where: { d in ![d.score, d.x1, d.y1, d.x2, d.y2].allSatisfy(\.isFinite) }) {
                throw ResultFileError(file: ids[position], line: nil, problem: "the detector returned a non-finite "
                    + "value (score \(bad.score), box \(bad.x1) \(bad.y1) \(bad.x2) \(bad.y2))")
            }
            try journal.append(imageID: ids[position], detections: detections)
            progress?(Progress(done: resumed + k + 1, total: selection.count, resumed: resumed,
                               elapsed: Date().timeIntervalSince(start)))
        }
        guard toRun.count == pending.count else {
            return Outcome(selection: selection, resumed: resumed, processed: toRun.count, result: nil, notes: [])
        }

        let perImage = selection.map { (id: ids[$0], detections: journal.finished[ids[$0]] ?? []) }
        try ResultFiles.write(perImage, classNames: groundTruth.classNames, split: options.split,
                              to: options.resultsFolder)
        let scoredTruth = groundTruth.subset(selection)
        let loaded = try ResultFolders.load([options.resultsFolder], split: options.split, groundTruth: scoredTruth)
        let result = DetectionEvaluator.evaluate(groundTruth: scoredTruth, detections: loaded.detections,
                                                 metric: options.metric, protocol: options.evaluationProtocol)
        try writeReports(result, selection: selection)
        var notes = loaded.notes
        if selection.count < ids.count {
            notes.append("note: scored over the \(selection.count) images of this run (shard \(options.shard)"
                + "\(options.limit.map { ", limit \($0)" } ?? "")), not the whole split of \(ids.count)")
        }
        return Outcome(selection: selection, resumed: resumed, processed: toRun.count, result: result, notes: notes,
                       scoredGroundTruth: scoredTruth, detections: loaded.detections)
    }
}
