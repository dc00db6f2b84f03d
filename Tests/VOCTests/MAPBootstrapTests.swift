import Foundation
import XCTest
@testable import Imaging
@testable import Evaluation
@testable import Parallelism
@testable import VOC

/// The paired image bootstrap (`MAPBootstrap`): its generator, its quantile rule, equality with the evaluator run
/// on the materialised resampled sets, an enumerable two-image case, the numpy reference
/// (`Scripts/bootstrap_reference.py`), and the coverage of its intervals on simulated data sets.
final class MAPBootstrapTests: XCTestCase {
    // MARK: - Synthetic data

    /// A random split with ties, duplicates, difficult objects, images without objects and false positives.
    struct Synthetic {
        var truth: GroundTruth
        var detections: [[ScoredBox]]
    }

    static func synthetic(images: Int, classes: Int, seed: UInt64, detectionsPerObject: Int = 1,
                          falsePositives: Int = 2, keep: Double = 0.8, roundScores: Bool = true) -> Synthetic {
        var rng = SplitMix64(seed: seed)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        func int(_ n: Int) -> Int { SplitMix64.index(rng.next(), below: n) }
        var objects: [[GroundTruthObject]] = []
        var detections = [[ScoredBox]](repeating: [], count: classes)
        for i in 0..<images {
            var list: [GroundTruthObject] = []
            for _ in 0..<(i % 7 == 3 ? 0 : 1 + int(3)) {
                let x = 1 + int(200), y = 1 + int(200)
                let b = PixelBox(xmin: x, ymin: y, xmax: x + 20 + int(60), ymax: y + 20 + int(60))
                let o = GroundTruthObject(classIndex: int(classes), box: b, difficult: int(8) == 0)
                list.append(o)
                for _ in 0..<detectionsPerObject where uniform() < keep {
                    let j = { Double(int(17) - 8) / 2 }
                    let score = roundScores ? (uniform() * 10).rounded() / 10 : 0.3 + 0.7 * uniform()
                    detections[o.classIndex].append(ScoredBox(
                        imageIndex: i, score: score, x1: Double(b.xmin) + j(), y1: Double(b.ymin) + j(),
                        x2: Double(b.xmax) + j(), y2: Double(b.ymax) + j()))
                }
            }
            objects.append(list)
            for _ in 0..<int(falsePositives + 1) {
                let x = Double(1 + int(250)), y = Double(1 + int(250))
                let score = roundScores ? (uniform() * 8).rounded() / 10 : 0.8 * uniform()
                detections[int(classes)].append(ScoredBox(imageIndex: i, score: score, x1: x, y1: y,
                                                          x2: x + 30.5, y2: y + 25))
            }
        }
        let truth = GroundTruth(classNames: (0..<classes).map { "c\($0)" },
                                imageIDs: (0..<images).map { String(format: "img%04d", $0) }, objects: objects)
        return Synthetic(truth: truth, detections: detections)
    }

    /// The resampled set written out: image `i` drawn `k` times becomes `k` images; each detection is followed by
    /// its copies (on the copies of its image).
    static func materialise(_ truth: GroundTruth, _ models: [[[ScoredBox]]], counts: [Int32])
        -> (GroundTruth, [[[ScoredBox]]]) {
        var ids: [String] = [], objects: [[GroundTruthObject]] = []
        var firstCopy = [Int](repeating: -1, count: counts.count)
        for (i, k) in counts.enumerated() where k > 0 {
            firstCopy[i] = ids.count
            for copy in 0..<Int(k) {
                ids.append("\(truth.imageIDs[i])#\(copy)")
                objects.append(truth.objects[i])
            }
        }
        let expanded = models.map { perClass in
            perClass.map { list in
                list.flatMap { d -> [ScoredBox] in
                    (0..<Int(counts[d.imageIndex])).map { copy in
                        var e = d
                        e.imageIndex = firstCopy[d.imageIndex] + copy
                        return e
                    }
                }
            }
        }
        return (GroundTruth(classNames: truth.classNames, imageIDs: ids, objects: objects), expanded)
    }

    // MARK: - Generator and quantile rule

    func testSplitMix64MatchesThePublishedSequence() {
        // Seed 0: the first outputs of the reference implementation (Vigna's splitmix64.c).
        var g = SplitMix64(seed: 0)
        XCTAssertEqual(g.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(g.next(), 0x6E78_9E6A_A1B9_65F4)
        XCTAssertEqual(g.next(), 0x06C4_5D18_8009_454F)
        // Random access gives the sequential stream.
        var h = SplitMix64(seed: 12345)
        for k in 0..<100 { XCTAssertEqual(SplitMix64.output(seed: 12345, at: UInt64(k)), h.next()) }
        XCTAssertEqual(SplitMix64.index(0, below: 7), 0)
        XCTAssertEqual(SplitMix64.index(UInt64.max, below: 7), 6)
        XCTAssertEqual(SplitMix64.index(1 << 63, below: 10), 5)
        // Counts are the tallies of the draws.
        let drawn = MAPBootstrap.drawnImages(images: 9, resample: 3, seed: 77)
        let counts = MAPBootstrap.imageCounts(images: 9, resample: 3, seed: 77)
        XCTAssertEqual(counts.map(Int.init), (0..<9).map { i in drawn.filter { $0 == i }.count })
        XCTAssertEqual(drawn, (0..<9).map { SplitMix64.index(SplitMix64.output(seed: 77, at: UInt64(27 + $0)), below: 9) })
    }

    func testQuantileRule() {
        XCTAssertEqual(MAPBootstrap.lowerIndex(1000), 24)   // floor(24.975)
        XCTAssertEqual(MAPBootstrap.upperIndex(1000), 975)  // ceil(974.025)
        XCTAssertEqual(MAPBootstrap.lowerIndex(1), 0)
        XCTAssertEqual(MAPBootstrap.upperIndex(1), 0)
        XCTAssertEqual(MAPBootstrap.lowerIndex(2), 0)
        XCTAssertEqual(MAPBootstrap.upperIndex(2), 1)
        XCTAssertEqual(MAPBootstrap.lowerIndex(41), 1)      // 0.025 * 40 = 1 exactly
        XCTAssertEqual(MAPBootstrap.upperIndex(41), 39)     // 0.975 * 40 = 39 exactly
        XCTAssertEqual(MAPBootstrap.lowerIndex(200), 4)     // floor(4.975)
        XCTAssertEqual(MAPBootstrap.upperIndex(200), 195)   // ceil(194.025)
        let values = (0..<1000).map { Double(999 - $0) }    // sorted: 0 ... 999
        XCTAssertEqual(MAPBootstrap.percentileInterval(values), .init(lo: 24, hi: 975))
        XCTAssertNil(MAPBootstrap.percentileInterval([]))
    }

    // MARK: - Equal to the evaluator

    func testAllOnesIsTheEvaluatorAndResamplesAreTheEvaluatorOnTheMaterialisedSet() {
        let s = Self.synthetic(images: 30, classes: 4, seed: 5, detectionsPerObject: 2)
        let other = Self.synthetic(images: 30, classes: 4, seed: 6, detectionsPerObject: 1).detections
            .map { $0.map { d in ScoredBox(imageIndex: d.imageIndex, score: d.score, x1: d.x1, y1: d.y1, x2: d.x2,
                                           y2: d.y2) } }
        let models = [s.detections, other]
        for p in EvaluationProtocol.allCases {
            for metric in APMetric.allCases {
                let tables = MAPBootstrap.Tables(groundTruth: s.truth, models: models, protocol: p)
                var scratch = MAPBootstrap.Scratch(capacity: tables.maxTruePositives)
                for m in models.indices {
                    let ones = [Int32](repeating: 1, count: 30)
                    let direct = DetectionEvaluator.evaluate(groundTruth: s.truth, detections: models[m], metric: metric,
                                                             protocol: p).mAP
                    XCTAssertEqual(tables.mAP(model: m, counts: ones, metric: metric, scratch: &scratch), direct,
                                   "\(p) \(metric) model \(m)")
                }
                let boot = MAPBootstrap.run(groundTruth: s.truth, models: models, metric: metric, protocol: p,
                                            resamples: 12, seed: 99)
                XCTAssertEqual(boot.mAPs.map(\.count), [12, 12])
                for b in 0..<12 {
                    let counts = MAPBootstrap.imageCounts(images: 30, resample: b, seed: 99)
                    let (truth, expanded) = Self.materialise(s.truth, models, counts: counts)
                    for m in models.indices {
                        let direct = DetectionEvaluator.evaluate(groundTruth: truth, detections: expanded[m],
                                                                 metric: metric, protocol: p).mAP
                        // Bit for bit, not approximately.
                        XCTAssertEqual(boot.mAPs[m][b], direct, "\(p) \(metric) resample \(b) model \(m)")
                    }
                }
            }
        }
    }

    // MARK: - Hand-computable

    /// Two images, one car each. Model A: a true positive (0.9) on image 0, a miss with a false positive (0.8) on
    /// image 1. Model B: true positives on both. The three resamples {0,0}, {0,1}/{1,0}, {1,1} give (VOC07):
    /// A: 1 (+2e-16, the devkit's summation), 6/11 (recall 1/2 at precision 1 reaches t = 0...0.5), 0;
    /// B: 1, 1, 1; so B - A: 0, 5/11, 1. With probabilities 1/4, 1/2, 1/4, the 2.5% and 97.5% quantiles of
    /// A are 0 and 1 and of B - A are 0 and 1; 1000 resamples draw both extreme outcomes about 250 times, so
    /// the order statistics at 24 and 975 are those.
    func testTwoImagesByEnumeration() throws {
        let car0 = box(10, 10, 60, 60), car1 = box(100, 100, 150, 170)
        let truth = groundTruth([[object(0, car0)], [object(0, car1)]], classes: ["car"])
        let a = [[det(0, 0.9, on: car0), det(1, 0.8, 200, 10, 240, 50)]]
        let b = [[det(0, 0.9, on: car0), det(1, 0.8, on: car1)]]
        let boot = MAPBootstrap.run(groundTruth: truth, models: [a, b], metric: .voc07, protocol: .devkit,
                                    resamples: 1000, seed: 2026)
        let perfect = (0..<11).reduce(0.0) { s, _ in s + 1.0 / 11 }   // 1.0000000000000002
        var seen = [0, 0, 0]
        for r in 0..<1000 {
            let counts = MAPBootstrap.imageCounts(images: 2, resample: r, seed: 2026)
            let (mA, mB) = (try XCTUnwrap(boot.mAPs[0][r]), try XCTUnwrap(boot.mAPs[1][r]))
            switch (counts[0], counts[1]) {
            case (2, 0):
                seen[0] += 1
                XCTAssertEqual(mA, perfect)
                XCTAssertEqual(mB, perfect)
            case (1, 1):
                seen[1] += 1
                XCTAssertEqual(mA, 6.0 / 11, accuracy: 1e-15)
                XCTAssertEqual(mB, perfect)
            case (0, 2):
                seen[2] += 1
                XCTAssertEqual(mA, 0)
                XCTAssertEqual(mB, perfect)
            default: XCTFail("counts \(counts)")
            }
        }
        XCTAssertEqual(seen.reduce(0, +), 1000)
        XCTAssertGreaterThan(seen[0], 200)
        XCTAssertGreaterThan(seen[2], 200)
        XCTAssertGreaterThan(seen[1], 430)
        XCTAssertEqual(boot.interval(0), .init(lo: 0, hi: perfect))
        XCTAssertEqual(boot.interval(1), .init(lo: perfect, hi: perfect))
        XCTAssertEqual(boot.differenceInterval(1, minus: 0), .init(lo: 0, hi: perfect))
        XCTAssertTrue(try XCTUnwrap(boot.differenceInterval(1, minus: 0)).containsZero)
        // The middle outcome is the median: half the resamples, so the order statistic at 500 is 5/11.
        let deltas = boot.differences(1, minus: 0).compactMap { $0 }.sorted()
        XCTAssertEqual(deltas[500], perfect - 6.0 / 11, accuracy: 1e-15)
    }

    func testIdenticalModelsGiveAZeroDifferenceAndNoResamplesGiveNoInterval() throws {
        let s = Self.synthetic(images: 25, classes: 3, seed: 11)
        let boot = MAPBootstrap.run(groundTruth: s.truth, models: [s.detections, s.detections], metric: .voc10,
                                    protocol: .devkit, resamples: 200, seed: 1)
        XCTAssertEqual(boot.differenceInterval(1, minus: 0), .init(lo: 0, hi: 0))
        let i = try XCTUnwrap(boot.interval(0))
        XCTAssertLessThan(i.lo, i.hi)
        XCTAssertEqual(boot.interval(0), boot.interval(1))
        // Another seed draws other resamples, so another interval.
        let other = MAPBootstrap.run(groundTruth: s.truth, models: [s.detections], metric: .voc10, protocol: .devkit,
                                     resamples: 200, seed: 2)
        XCTAssertNotEqual(other.mAPs[0], boot.mAPs[0])
        let none = MAPBootstrap.run(groundTruth: s.truth, models: [s.detections], metric: .voc10, protocol: .devkit,
                                    resamples: 0)
        XCTAssertNil(none.interval(0))
        XCTAssertEqual(none.mAPs, [[]])
    }

    // MARK: - numpy reference

    struct Golden: Decodable {
        struct Object: Decodable {
            let `class`: Int
            let box: [Int]
            let difficult: Bool
        }
        struct Metric: Decodable {
            let maps: [[Double?]]
            let intervals: [[Double]?]
            let delta_1_minus_0: [Double]?
        }
        struct Expected: Decodable {
            let splitmix: [String]
            let drawn: [[Int]]
            let voc07: Metric
            let voc10: Metric
        }
        let seed: String
        let resamples: Int
        let classNames: [String]
        let imageIDs: [String]
        let objects: [[Object]]
        let models: [[[[Double]]]]
        let expected: Expected
    }

    func testMatchesTheNumpyReference() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
            .appendingPathComponent("bootstrap/paired_bootstrap.json")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        let seed = try XCTUnwrap(UInt64(golden.seed))
        var g = SplitMix64(seed: seed)
        XCTAssertEqual(golden.expected.splitmix.map { UInt64($0) }, (0..<4).map { _ in g.next() })
        let n = golden.imageIDs.count
        XCTAssertEqual(golden.expected.drawn, [0, 1].map { MAPBootstrap.drawnImages(images: n, resample: $0, seed: seed) })
        let truth = GroundTruth(classNames: golden.classNames, imageIDs: golden.imageIDs, objects: golden.objects.map {
            $0.map { o in GroundTruthObject(classIndex: o.class, box: box(o.box[0], o.box[1], o.box[2], o.box[3]),
                                            difficult: o.difficult) }
        })
        let models = golden.models.map { perClass in
            perClass.map { $0.map { d in ScoredBox(imageIndex: Int(d[0]), score: d[1], x1: d[2], y1: d[3], x2: d[4],
                                                    y2: d[5]) } }
        }
        for (metric, expected) in [(APMetric.voc07, golden.expected.voc07), (.voc10, golden.expected.voc10)] {
            let boot = MAPBootstrap.run(groundTruth: truth, models: models, metric: metric, protocol: .devkit,
                                        resamples: golden.resamples, seed: seed)
            var compared = 0
            for m in models.indices {
                XCTAssertEqual(boot.mAPs[m].count, expected.maps[m].count)
                for (got, want) in zip(boot.mAPs[m], expected.maps[m]) {
                    XCTAssertEqual(got == nil, want == nil)
                    if let got, let want {
                        XCTAssertEqual(got, want, accuracy: 1e-12, "\(metric) model \(m)")
                        compared += 1
                    }
                }
                let interval = try XCTUnwrap(boot.interval(m))
                let want = try XCTUnwrap(expected.intervals[m])
                XCTAssertEqual(interval.lo, want[0], accuracy: 1e-12)
                XCTAssertEqual(interval.hi, want[1], accuracy: 1e-12)
            }
            XCTAssertEqual(compared, 2 * golden.resamples)
            let delta = try XCTUnwrap(boot.differenceInterval(1, minus: 0))
            let want = try XCTUnwrap(expected.delta_1_minus_0)
            XCTAssertEqual(delta.lo, want[0], accuracy: 1e-12)
            XCTAssertEqual(delta.hi, want[1], accuracy: 1e-12)
        }
    }

    // MARK: - Coverage

    /// Known truth: a population of 3000 images (objects and the detections of two detectors of different
    /// quality) whose mAPs are computed by the evaluator; a data set of 120 images is drawn from it with
    /// replacement (i.i.d. from the population's distribution, whose mAP is the population mAP), bootstrapped
    /// with 100 resamples, and we count how often the intervals cover the population's mAP and the difference
    /// of the two. 200 trials, fixed seeds.
    func testIntervalsCoverTheTruthAbout95PercentOfTheTime() throws {
        let population = Self.synthetic(images: 3000, classes: 2, seed: 424242, falsePositives: 2, keep: 0.8,
                                        roundScores: false)
        // The second detector: the same boxes, scores blurred with noise (worse ranking), so the two are correlated
        // as a quantized model is with its float model.
        var noise = SplitMix64(seed: 7)
        let worse = population.detections.map { list in
            list.map { d -> ScoredBox in
                var e = d
                e.score = d.score + 0.35 * Double(noise.next() >> 11) / Double(1 << 53)
                return e
            }
        }
        let models = [population.detections, worse]
        // byImage[m][c][i]: model m's detections of class c in population image i.
        let byImage = models.map { perClass in
            perClass.map { list in
                list.reduce(into: [[ScoredBox]](repeating: [], count: 3000)) { $0[$1.imageIndex].append($1) }
            }
        }
        var coveredA = 0, coveredDelta = 0
        let trials = 200, size = 120
        let truthA = try XCTUnwrap(DetectionEvaluator.evaluate(groundTruth: population.truth, detections: models[0],
                                                               metric: .voc10, protocol: .devkit).mAP)
        let truthB = try XCTUnwrap(DetectionEvaluator.evaluate(groundTruth: population.truth, detections: models[1],
                                                               metric: .voc10, protocol: .devkit).mAP)
        XCTAssertGreaterThan(truthA - truthB, 0.005, "the two detectors differ")
        for t in 0..<trials {
            var draw = SplitMix64(seed: 1_000_000 + UInt64(t))
            let picked = (0..<size).map { _ in SplitMix64.index(draw.next(), below: 3000) }
            // The drawn images as a data set of their own (an image drawn twice appears twice).
            let truth = GroundTruth(classNames: population.truth.classNames, imageIDs: (0..<size).map { "s\($0)" },
                                    objects: picked.map { population.truth.objects[$0] })
            let sample = byImage.map { perClass in
                perClass.map { lists in
                    picked.enumerated().flatMap { k, i in lists[i].map { d -> ScoredBox in
                        var e = d
                        e.imageIndex = k
                        return e
                    } }
                }
            }
            let boot = MAPBootstrap.run(groundTruth: truth, models: sample, metric: .voc10, protocol: .devkit,
                                        resamples: 100, seed: UInt64(t))
            let a = try XCTUnwrap(boot.interval(0)), d = try XCTUnwrap(boot.differenceInterval(0, minus: 1))
            if a.lo <= truthA && truthA <= a.hi { coveredA += 1 }
            let trueDelta = truthA - truthB
            if d.lo <= trueDelta && trueDelta <= d.hi { coveredDelta += 1 }
        }
        let rateA = Double(coveredA) / Double(trials), rateDelta = Double(coveredDelta) / Double(trials)
        print(String(format: "bootstrap coverage: mAP %.3f, difference %.3f over %d trials", rateA, rateDelta, trials))
        XCTAssertGreaterThanOrEqual(rateA, 0.88)
        XCTAssertLessThanOrEqual(rateA, 0.99)
        XCTAssertGreaterThanOrEqual(rateDelta, 0.88)
        XCTAssertLessThanOrEqual(rateDelta, 0.99)
    }

    // MARK: - Speed (opt-in)

    /// 1000 resamples, 250 images, 20 classes, 200 detections per image, 2 models. Run in release:
    ///   swift build -c release --build-tests -Xswiftc -enable-testing
    ///   MPQ_BENCH=1 swift test -c release --skip-build --filter MAPBootstrapTests/testSpeed
    func testSpeed1000Resamples250Images20Classes() throws {
        guard ProcessInfo.processInfo.environment["MPQ_BENCH"] == "1" else {
            print("MAPBootstrapTests speed skipped: set MPQ_BENCH=1 to run it")
            return
        }
        // About 2 objects per image; 200 detections per image in all (most of them false positives).
        let s = Self.synthetic(images: 250, classes: 20, seed: 3, detectionsPerObject: 1, falsePositives: 396,
                               keep: 0.9)
        // The second model: the same boxes with noisier scores (as a quantized model is to its float model).
        var noise = SplitMix64(seed: 9)
        let other = Synthetic(truth: s.truth, detections: s.detections.map { list in
            list.map { d -> ScoredBox in
                var e = d
                e.score = d.score + 0.3 * Double(noise.next() >> 11) / Double(1 << 53)
                return e
            }
        })
        let total = s.detections.map(\.count).reduce(0, +)
        func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
                + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        for metric in APMetric.allCases {
            let (w0, c0) = (Date(), cpuSeconds())
            let boot = MAPBootstrap.run(groundTruth: s.truth, models: [s.detections, other.detections], metric: metric,
                                        protocol: .devkit, resamples: 1000, seed: 0)
            print(String(format: "bench: bootstrap %@ 1000 x 250 images x 20 classes, %d + %d detections, 2 models: "
                + "%.3f s wall, %.3f s CPU", metric.rawValue, total, other.detections.map(\.count).reduce(0, +),
                Date().timeIntervalSince(w0), cpuSeconds() - c0))
            XCTAssertNotNil(boot.interval(0))
        }
    }
}
