import Foundation
import XCTest
@testable import Imaging
@testable import Evaluation
@testable import VOC

/// A synthetic split: image i is a tiny image of width 10 + i (the test detectors read the index back from it).
struct SyntheticSplit {
    let truth: GroundTruth

    init(images: Int = 12, classes: [String] = ["cat", "dog", "bird"]) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {  // a fixed LCG: the same split on every run
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        var objects: [[GroundTruthObject]] = []
        for i in 0..<images {
            objects.append((0..<(i % 5 == 4 ? 0 : 1 + next(3))).map { _ in
                let x = 1 + next(200), y = 1 + next(150)
                // Class "bird" (2) is only ever difficult: npos = 0 -> n/a.
                let c = next(3)
                return GroundTruthObject(classIndex: c, box: PixelBox(xmin: x, ymin: y, xmax: x + 20 + next(80),
                                                                       ymax: y + 20 + next(60)),
                                         difficult: c == 2 || next(6) == 0)
            })
        }
        truth = GroundTruth(classNames: classes, imageIDs: (0..<images).map { String(format: "%06d", 3 * $0 + 1) },
                            objects: objects)
    }

    var loader: @Sendable (String) throws -> RGBImage {
        let ids = truth.imageIDs
        return { id in
            guard let i = ids.firstIndex(of: id) else { throw ImageError(file: id, problem: "unknown") }
            return RGBImage(width: 10 + i, height: 2, pixels: [UInt8](repeating: 0, count: (10 + i) * 2 * 3))
        }
    }
}

/// Returns the ground-truth boxes (0-based, so the written files hold exactly the annotation numbers).
/// `perturb` shifts every box by (image + object) % 5 - 2 pixels and adds one false positive per image for class 0,
/// with scores that tie across images (so shard merging must get the tie order right).
final class TruthDetector: ImageDetector, @unchecked Sendable {
    let truth: GroundTruth
    let perturb: Bool
    private let lock = NSLock()
    private var _calls = 0
    var calls: Int { lock.withLock { _calls } }

    init(_ truth: GroundTruth, perturb: Bool = false) {
        self.truth = truth
        self.perturb = perturb
    }

    func detect(_ image: RGBImage) throws -> [Detection] {
        lock.withLock { _calls += 1 }
        let i = image.width - 10
        var out = truth.objects[i].enumerated().map { k, o in
            let s = perturb ? Float((i + k) % 5 - 2) : 0
            return Detection(classIndex: o.classIndex, score: perturb ? Float(k % 3 + 1) / 4 : 0.9,
                             x1: Float(o.box.xmin - 1) + s, y1: Float(o.box.ymin - 1) - s,
                             x2: Float(o.box.xmax - 1) + s, y2: Float(o.box.ymax - 1) + s / 2)
        }
        if perturb { out.append(Detection(classIndex: 0, score: 0.5, x1: 0, y1: 0, x2: 30.5, y2: 20)) }
        return out
    }
}

final class EvaluationRunnerTests: XCTestCase {
    var folders: [URL] = []

    func tempFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-runner-\(UUID().uuidString)")
        folders.append(url)
        return url
    }

    override func tearDown() {
        for f in folders { try? FileManager.default.removeItem(at: f) }
    }

    func runner(_ split: SyntheticSplit, _ detector: any ImageDetector, folder: URL, shard: Shard = .all,
                limit: Int? = nil, metric: APMetric = .voc10, protocol p: EvaluationProtocol = .devkit,
                stopAfter: Int? = nil) -> EvaluationRunner {
        EvaluationRunner(groundTruth: split.truth, detector: detector, loadImage: split.loader,
                         options: .init(split: "test", resultsFolder: folder, limit: limit, shard: shard, metric: metric,
                                        evaluationProtocol: p, detectorIdentity: "test-double", decodeThreads: 2,
                                        prefetch: 3, stopAfter: stopAfter))
    }

    /// Ground-truth boxes as detections: every non-difficult object found once at overlap 1 with precision 1, and
    /// detections on difficult objects ignored, so every scorable class has AP exactly 1 (VOC10: one recall step
    /// 0 -> 1 at precision 1). "bird" has only difficult objects: n/a, left out.
    func testTruthDetectorScoresExactlyOne() throws {
        let split = SyntheticSplit()
        for p in EvaluationProtocol.allCases {
            let outcome = try runner(split, TruthDetector(split.truth), folder: tempFolder(), protocol: p).run()
            let result = try XCTUnwrap(outcome.result)
            XCTAssertEqual(result.mAP, 1.0, p.rawValue)
            XCTAssertEqual(result.classes.map(\.ap), [1.0, 1.0, nil], p.rawValue)
            XCTAssertEqual(result.classes.map(\.falsePositives), [0, 0, 0])
        }
        // VOC07 adds p/11 eleven times: 1.0000000000000002, as the devkit's loop does.
        let r07 = try XCTUnwrap(runner(split, TruthDetector(split.truth), folder: tempFolder(), metric: .voc07).run().result)
        XCTAssertEqual(r07.mAP ?? -1, 1.0, accuracy: 3e-16)
    }

    /// The runner (prefetch threads, journal, comp4 files, re-reading them) gives exactly the score of the same
    /// detections scored directly in memory.
    func testPerturbedDetectorMatchesDirectScoring() throws {
        let split = SyntheticSplit()
        let detector = TruthDetector(split.truth, perturb: true)
        let folder = tempFolder()
        let result = try XCTUnwrap(runner(split, detector, folder: folder).run().result)
        var perClass = [[ScoredBox]](repeating: [], count: 3)
        for i in split.truth.imageIDs.indices {
            let image = RGBImage(width: 10 + i, height: 2, pixels: [UInt8](repeating: 0, count: (10 + i) * 6))
            for d in try detector.detect(image) {
                // The text round trip the files take: float32 + 1, printed shortest, read as double.
                func v(_ f: Float) -> Double { Double("\(f)") ?? .nan }
                perClass[d.classIndex].append(ScoredBox(imageIndex: i, score: v(d.score), x1: v(d.x1 + 1),
                                                        y1: v(d.y1 + 1), x2: v(d.x2 + 1), y2: v(d.y2 + 1)))
            }
        }
        let direct = DetectionEvaluator.evaluate(groundTruth: split.truth, detections: perClass, metric: .voc10,
                                                 protocol: .devkit)
        XCTAssertEqual(result.classes.map(\.ap), direct.classes.map(\.ap))
        XCTAssertEqual(result.mAP, direct.mAP)
        let mAP = try XCTUnwrap(result.mAP)
        XCTAssertGreaterThan(mAP, 0.2)
        XCTAssertLessThan(mAP, 0.99)
        // Reports beside the result files.
        let summary = try String(contentsOf: folder.appendingPathComponent("summary.md"), encoding: .utf8)
        XCTAssertTrue(summary.contains("- **mAP**: \(EvaluationReport.format(mAP))"), summary)
        XCTAssertTrue(summary.contains("| bird | n/a |"), summary)
        for name in split.truth.classNames {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("curves/\(name).svg").path))
        }
    }

    /// Kill after 5 images (a clean stop), plus a torn half-written record; the rerun with the same settings
    /// runs only the missing images and ends with byte-identical result files and the same mAP as one full run.
    func testResumeLosesNoFinishedWorkAndMatchesAFullRun() throws {
        let split = SyntheticSplit()
        let full = tempFolder()
        let fullResult = try XCTUnwrap(runner(split, TruthDetector(split.truth, perturb: true), folder: full).run().result)

        let folder = tempFolder()
        let first = TruthDetector(split.truth, perturb: true)
        let stopped = try runner(split, first, folder: folder, stopAfter: 5).run()
        XCTAssertNil(stopped.result)
        XCTAssertEqual(first.calls, 5)
        // A record cut by the kill (no newline): dropped on reopen, its image redone.
        let journal = folder.appendingPathComponent(EvaluationJournal.fileName)
        let handle = try FileHandle(forWritingTo: journal)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("000016 2 0 0.75 1".utf8))
        try handle.close()

        let second = TruthDetector(split.truth, perturb: true)
        var reports: [EvaluationRunner.Progress] = []
        let resumed = try runner(split, second, folder: folder).run { reports.append($0) }
        XCTAssertEqual(resumed.resumed, 5)
        XCTAssertEqual(second.calls, 7)
        XCTAssertEqual(reports.first?.done, 5)
        XCTAssertEqual(reports.last?.done, 12)
        let result = try XCTUnwrap(resumed.result)
        XCTAssertEqual(result.mAP, fullResult.mAP)
        for name in split.truth.classNames {
            let file = ResultFiles.fileName(split: "test", className: name)
            XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent(file)),
                           try Data(contentsOf: full.appendingPathComponent(file)), file)
        }
        // Running again changes nothing and calls the detector for no image.
        let third = TruthDetector(split.truth, perturb: true)
        XCTAssertEqual(try runner(split, third, folder: folder).run().result?.mAP, fullResult.mAP)
        XCTAssertEqual(third.calls, 0)
    }

    func testJournalOfOtherSettingsIsRefused() throws {
        let split = SyntheticSplit()
        let folder = tempFolder()
        _ = try runner(split, TruthDetector(split.truth), folder: folder, stopAfter: 2).run()
        XCTAssertThrowsError(try runner(split, TruthDetector(split.truth), folder: folder, shard: Shard("1/2") ?? .all).run()) {
            XCTAssertTrue("\($0)".contains("belongs to another run"), "\($0)")
        }
    }

    /// Three shards in three folders, merged by `ResultFolders.load`, score exactly like one run (scores tie
    /// across images, so the merge must restore image-set order). Each shard alone is scored on its own images.
    func testShardsMergeToTheSingleRunScore() throws {
        let split = SyntheticSplit()
        let single = tempFolder()
        let whole = try XCTUnwrap(runner(split, TruthDetector(split.truth, perturb: true), folder: single).run().result)
        var shardFolders: [URL] = []
        for i in 0..<3 {
            let folder = tempFolder()
            let outcome = try runner(split, TruthDetector(split.truth, perturb: true), folder: folder,
                                     shard: Shard("\(i)/3") ?? .all).run()
            XCTAssertEqual(outcome.selection, Array(stride(from: i, to: 12, by: 3)))
            XCTAssertNotNil(outcome.result)
            shardFolders.append(folder)
        }
        let merged = try ResultFolders.load(shardFolders.reversed(), split: "test", groundTruth: split.truth)
        let result = DetectionEvaluator.evaluate(groundTruth: split.truth, detections: merged.detections,
                                                 metric: .voc10, protocol: .devkit)
        XCTAssertEqual(result.classes.map(\.ap), whole.classes.map(\.ap))
        XCTAssertEqual(result.mAP, whole.mAP)
        XCTAssertEqual(merged.notes, [])
        // Two of three shards: scored, with a warning that a third of the split is missing.
        let partial = try ResultFolders.load(Array(shardFolders.prefix(2)), split: "test", groundTruth: split.truth)
        XCTAssertEqual(partial.notes.count, 1)
        XCTAssertTrue(partial.notes[0].contains("cover 8 of the 12 images"), partial.notes[0])
        // Overlapping folders (a shard plus the full run) are refused.
        XCTAssertThrowsError(try ResultFolders.load([shardFolders[0], single], split: "test", groundTruth: split.truth)) {
            XCTAssertTrue("\($0)".contains("overlap"), "\($0)")
        }
    }

    func testLimitRunsTheFirstImagesOnly() throws {
        let split = SyntheticSplit()
        let detector = TruthDetector(split.truth)
        let outcome = try runner(split, detector, folder: tempFolder(), limit: 4).run()
        XCTAssertEqual(outcome.selection, [0, 1, 2, 3])
        XCTAssertEqual(detector.calls, 4)
        XCTAssertEqual(outcome.result?.mAP, 1.0)
    }

    /// A failing image stops the run with its error; the images before it stay recorded.
    func testImageErrorStopsTheRunAndKeepsFinishedImages() throws {
        let split = SyntheticSplit()
        let folder = tempFolder()
        let good = split.loader
        let bad = split.truth.imageIDs[6]
        let r = EvaluationRunner(groundTruth: split.truth, detector: TruthDetector(split.truth), loadImage: { id in
            if id == bad { throw ImageError(file: "\(id).jpg", problem: "corrupt or truncated JPEG") }
            return try good(id)
        }, options: .init(split: "test", resultsFolder: folder, detectorIdentity: "test-double", prefetch: 2))
        XCTAssertThrowsError(try r.run()) { XCTAssertEqual(($0 as? ImageError)?.file, "000019.jpg") }
        let journal = try EvaluationJournal(folder: folder, settings: r.settings)
        XCTAssertEqual(Set(journal.finished.keys), Set(split.truth.imageIDs.prefix(6)))
    }

    func testShardParsing() {
        XCTAssertEqual(Shard("1/3")?.positions(total: 10, limit: nil), [1, 4, 7])
        XCTAssertEqual(Shard("1/3")?.positions(total: 10, limit: 5), [1, 4])
        XCTAssertEqual(Shard("0/1")?.positions(total: 3, limit: nil), [0, 1, 2])
        for bad in ["3/3", "-1/2", "1/0", "a/b", "1", "1/2/3", ""] { XCTAssertNil(Shard(bad), bad) }
    }
}

/// A detector with broken output, to check the runner refuses it before anything reaches the files.
struct BrokenDetector: ImageDetector {
    let detection: Detection
    func detect(_ image: RGBImage) throws -> [Detection] { [detection] }
}

extension EvaluationRunnerTests {
    func testDetectorOutputIsValidated() throws {
        let split = SyntheticSplit()
        let nan = BrokenDetector(detection: Detection(classIndex: 0, score: .nan, x1: 0, y1: 0, x2: 1, y2: 1))
        XCTAssertThrowsError(try runner(split, nan, folder: tempFolder()).run()) {
            XCTAssertTrue("\($0)".contains("non-finite"), "\($0)")
        }
        let wrongClass = BrokenDetector(detection: Detection(classIndex: 3, score: 1, x1: 0, y1: 0, x2: 1, y2: 1))
        XCTAssertThrowsError(try runner(split, wrongClass, folder: tempFolder()).run()) {
            XCTAssertTrue("\($0)".contains("class index 3, outside the 3 classes"), "\($0)")
        }
    }
}
