import Parallelism
import VOC
import Dispatch
import Foundation

/// SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014; the generator
/// of Java's `SplittableRandom`). Small, fast, and easy to reproduce in any language with 64-bit integers:
/// ```
/// state = state + 0x9E3779B97F4A7C15            (mod 2^64)
/// z = state
/// z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9      (mod 2^64)
/// z = (z ^ (z >> 27)) * 0x94D049BB133111EB      (mod 2^64)
/// return z ^ (z >> 31)
/// ```
/// The k-th output (0-based) of the stream seeded with `s` is `mix(s + (k + 1) * 0x9E3779B97F4A7C15)`, so any
/// output can be computed directly (`output(seed:at:)`), which lets the bootstrap draw resamples in parallel and
/// still get the numbers of the sequential stream.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= Self.gamma
        return Self.mix(state)
    }

    /// The finalizer applied to the state.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Output number `k` (0-based) of the stream seeded with `seed`, without computing the ones before it.
    public static func output(seed: UInt64, at k: UInt64) -> UInt64 { mix(seed &+ (k &+ 1) &* gamma) }

    /// An index in `0..<n` from one 64-bit output: `floor(x * n / 2^64)` (the high word of the 128-bit product;
    /// no rejection step, the bias is below n / 2^64).
    public static func index(_ x: UInt64, below n: Int) -> Int {
        precondition(n > 0, "SplitMix64.index: empty range")
        return Int(x.multipliedFullWidth(by: UInt64(n)).high)
    }
}

/// Paired percentile bootstrap of VOC mAP over the test images.
///
/// **What is resampled**: the images. Resample `b` (0-based) of `n` images draws `n` image positions with
/// replacement: draw `j` is `SplitMix64.index(output(seed, at: b * n + j), below: n)`. An image drawn `k` times
/// enters the resampled set as `k` distinct copies: its non-difficult objects count `k` times in `npos` and each of
/// its detections ranks `k` times (copies of one detection are adjacent; detections of equal score keep their
/// list order, as in `DetectionEvaluator`). **Paired**: one resample is drawn once and used for every model, so the
/// difference of two models' mAPs is computed on the same images and the image-to-image variation they share
/// cancels out of the difference.
///
/// **Exactly the evaluator**: every value is the mAP `DetectionEvaluator` would report on the resampled set
/// (same matching, difficult handling, metric, classes without positives left out). Matching looks only at a
/// detection's own image, so each detection's outcome (true positive, false positive, ignored) is computed once;
/// a resample then only weights the ranked outcomes by their image's draw count. Only the points after a true
/// positive can hold a maximum of the precision at a given recall, so those are the only ones kept; their values
/// are the same integers divided the same way as in the full list, so the VOC07 AP is bit-identical and the VOC10
/// area is summed step by step in the same order (bit-identical too; tests check against the evaluator run on the
/// materialised resampled set, and against `Scripts/bootstrap_reference.py`).
///
/// **Interval**: of `B` values sorted ascending, `[v[floor(0.025 (B-1))], v[ceil(0.975 (B-1))]]` (0-based;
/// indices computed in integers as `25 (B-1) / 1000` and `(975 (B-1) + 999) / 1000`). For B = 1000: v[24], v[975].
/// A resample with no non-difficult object of any class has no mAP (the evaluator's nil); such resamples are
/// left out and the rule applies to the B' that remain (the same for every model: positives do not depend on it).
///
/// Speed: 1000 resamples of 250 images x 20 classes, 200 detections per image (54k per model), 2 models: 0.09 s wall
/// (0.17 s CPU) on 2 cores of an AMD EPYC, plus 0.01 s to match both models (release; 0.16 s wall on one free core;
/// notes/bootstrap.md, `MPQ_BENCH=1` test `MAPBootstrapTests.testSpeed1000Resamples250Images20Classes`).
public struct MAPBootstrap: Sendable {
    /// A 95% percentile interval.
    public struct Interval: Sendable, Equatable, Codable {
        public let lo: Double
        public let hi: Double
        public init(lo: Double, hi: Double) {
            self.lo = lo
            self.hi = hi
        }
        /// Whether `x` is inside (ends included).
        public func contains(_ x: Double) -> Bool { lo <= x && x <= hi }
        /// Whether 0 is inside (a difference is then "not significant" at the 5% level).
        public var containsZero: Bool { contains(0) }
        public var halfWidth: Double { (hi - lo) / 2 }
        public var array: [Double] { [lo, hi] }
        public init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            lo = try c.decode(Double.self)
            hi = try c.decode(Double.self)
        }
        /// JSON: `[lo, hi]`.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.unkeyedContainer()
            try c.encode(lo)
            try c.encode(hi)
        }
    }

    public static let defaultResamples = 1000
    public static let defaultSeed: UInt64 = 0

    public let resamples: Int
    public let seed: UInt64
    public let imageCount: Int
    /// `mAPs[m][b]`: model `m`'s mAP on resample `b`; nil when the resample holds no non-difficult object.
    public let mAPs: [[Double?]]

    /// The interval of model `m`'s mAP (nil without any resample that has an mAP, e.g. B = 0).
    public func interval(_ m: Int) -> Interval? { Self.percentileInterval(mAPs[m].compactMap { $0 }) }

    /// Per resample, `mAP(a) - mAP(b)`.
    public func differences(_ a: Int, minus b: Int) -> [Double?] {
        zip(mAPs[a], mAPs[b]).map { x, y in
            guard let x, let y else { return nil }
            return x - y
        }
    }

    /// The interval of `mAP(a) - mAP(b)` over the paired resamples.
    public func differenceInterval(_ a: Int, minus b: Int) -> Interval? {
        Self.percentileInterval(differences(a, minus: b).compactMap { $0 })
    }

    /// `floor(0.025 (count - 1))`, in integers.
    public static func lowerIndex(_ count: Int) -> Int { 25 * (count - 1) / 1000 }
    /// `ceil(0.975 (count - 1))`, in integers.
    public static func upperIndex(_ count: Int) -> Int { (975 * (count - 1) + 999) / 1000 }

    /// The 95% percentile interval of `values` (see the type's documentation); nil for no values.
    public static func percentileInterval(_ values: [Double]) -> Interval? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return Interval(lo: sorted[lowerIndex(sorted.count)], hi: sorted[upperIndex(sorted.count)])
    }

    /// The image positions drawn by resample `b` of `n` images (in draw order).
    public static func drawnImages(images n: Int, resample b: Int, seed: UInt64) -> [Int] {
        (0..<n).map { j in SplitMix64.index(SplitMix64.output(seed: seed, at: UInt64(b * n + j)), below: n) }
    }

    /// How many times resample `b` draws each image. Layout: `[n]`.
    public static func imageCounts(images n: Int, resample b: Int, seed: UInt64) -> [Int32] {
        var counts = [Int32](repeating: 0, count: n)
        for j in 0..<n {
            counts[SplitMix64.index(SplitMix64.output(seed: seed, at: UInt64(b * n + j)), below: n)] += 1
        }
        return counts
    }

    /// Bootstraps the mAP of every model in `models` (each: one detection list per class, as
    /// `DetectionEvaluator.evaluate` takes them) on `groundTruth`, with `resamples` paired resamples.
    /// - Precondition: each model has one list per class; image indices inside the ground truth.
    public static func run(groundTruth: GroundTruth, models: [[[ScoredBox]]], metric: APMetric,
                           protocol evaluationProtocol: EvaluationProtocol, resamples: Int = defaultResamples,
                           seed: UInt64 = defaultSeed) -> MAPBootstrap {
        var set = Models(groundTruth: groundTruth, protocol: evaluationProtocol)
        for detections in models { set.add(detections) }
        return set.run(metric: metric, resamples: resamples, seed: seed)
    }

    /// The models of a paired bootstrap, added one at a time: each is matched when added and only its ranked
    /// outcomes are kept (one signed image index per true or false positive), so a command comparing many models
    /// need not keep their boxes.
    public struct Models: Sendable {
        var tables: Tables
        let groundTruth: GroundTruth

        public init(groundTruth: GroundTruth, protocol evaluationProtocol: EvaluationProtocol) {
            self.groundTruth = groundTruth
            tables = Tables(groundTruth: groundTruth, models: [], protocol: evaluationProtocol)
        }

        /// Adds a model: one detection list per class, as `DetectionEvaluator.evaluate` takes them.
        public mutating func add(_ detections: [[ScoredBox]]) {
            tables.add(detections, groundTruth: groundTruth)
        }

        public var count: Int { tables.ranked.count }

        /// The bootstrap of every model added, in the order added.
        public func run(metric: APMetric, resamples: Int = MAPBootstrap.defaultResamples,
                        seed: UInt64 = MAPBootstrap.defaultSeed) -> MAPBootstrap {
            precondition(resamples >= 0, "MAPBootstrap: negative resample count")
            let tables = self.tables
            let modelCount = tables.ranked.count
            let n = groundTruth.imageIDs.count
            guard resamples > 0, n > 0 else {
                return MAPBootstrap(resamples: resamples, seed: seed, imageCount: n,
                                    mAPs: (0..<modelCount).map { _ in [Double?](repeating: nil, count: resamples) })
            }
            // Chunks of resamples in parallel; each chunk fills its own slot (deterministic whatever the scheduling).
            let chunk = 16
            let chunks = (resamples + chunk - 1) / chunk
            let perChunk = OrderedParallel.map(count: chunks, threads: ProcessInfo.processInfo.activeProcessorCount) { k -> [[Double?]] in
                var scratch = Scratch(capacity: tables.maxTruePositives)
                var out: [[Double?]] = []
                for b in (k * chunk)..<Swift.min(resamples, (k + 1) * chunk) {
                    let counts = imageCounts(images: n, resample: b, seed: seed)
                    out.append((0..<modelCount).map { m in
                        tables.mAP(model: m, counts: counts, metric: metric, scratch: &scratch)
                    })
                }
                return out
            }
            var maps = [[Double?]](repeating: [], count: modelCount)
            for rows in perChunk {
                for row in rows {
                    for m in row.indices { maps[m].append(row[m]) }
                }
            }
            return MAPBootstrap(resamples: resamples, seed: seed, imageCount: n, mAPs: maps)
        }
    }

    /// Each model's ranked, matched detections and each class's positives per image: everything a resample needs.
    struct Tables: Sendable {
        /// One class of one model: the true and false positives in rank order (ignored ones never change a count).
        struct Ranked: Sendable {
            /// The image of each true or false positive in rank order; a true positive of image `i` is stored as
            /// `~i` (negative), a false positive as `i`: one array to walk.
            var entries: [Int32] = []
            var truePositives = 0
        }
        /// `positiveImages[c][k]` has `positiveCounts[c][k]` non-difficult objects of class `c`.
        var positiveImages: [[Int32]]
        var positiveCounts: [[Int32]]
        /// `ranked[m][c]`.
        var ranked: [[Ranked]]
        var maxTruePositives: Int

        init(groundTruth: GroundTruth, models: [[[ScoredBox]]], protocol evaluationProtocol: EvaluationProtocol) {
            let classCount = groundTruth.classNames.count
            var images = [[Int32]](repeating: [], count: classCount)
            var counts = [[Int32]](repeating: [], count: classCount)
            for (i, objects) in groundTruth.objects.enumerated() {
                var perClass = [Int32](repeating: 0, count: classCount)
                for o in objects where !o.difficult { perClass[o.classIndex] += 1 }
                for c in 0..<classCount where perClass[c] > 0 {
                    images[c].append(Int32(i))
                    counts[c].append(perClass[c])
                }
            }
            positiveImages = images
            positiveCounts = counts
            ranked = []
            maxTruePositives = 0
            self.evaluationProtocol = evaluationProtocol
            for detections in models { add(detections, groundTruth: groundTruth) }
        }

        let evaluationProtocol: EvaluationProtocol

        mutating func add(_ detections: [[ScoredBox]], groundTruth: GroundTruth) {
            let classCount = groundTruth.classNames.count
            precondition(detections.count == classCount, "MAPBootstrap: one detection list per class")
            let protocolUsed = evaluationProtocol
            let tables = OrderedParallel.map(count: classCount, threads: ProcessInfo.processInfo.activeProcessorCount) { c in
                let matched = DetectionEvaluator.match(c, groundTruth: groundTruth, detections: detections[c],
                                                       protocol: protocolUsed)
                var r = Ranked()
                r.entries.reserveCapacity(matched.order.count)
                for (d, outcome) in zip(matched.order, matched.outcomes) where outcome != .ignored {
                    let image = Int32(detections[c][d].imageIndex)
                    r.entries.append(outcome == .truePositive ? ~image : image)
                    if outcome == .truePositive { r.truePositives += 1 }
                }
                return r
            }
            ranked.append(tables)
            maxTruePositives = Swift.max(maxTruePositives,
                                         tables.map(\.truePositives).max() ?? 0)
        }

        /// Model `m`'s mAP on the resample that draws image `i` `counts[i]` times.
        func mAP(model m: Int, counts: [Int32], metric: APMetric, scratch: inout Scratch) -> Double? {
            var sum = 0.0
            var scored = 0
            for c in ranked[m].indices {
                var npos = 0
                for (i, k) in zip(positiveImages[c], positiveCounts[c]) { npos += Int(counts[Int(i)]) * Int(k) }
                guard npos > 0 else { continue }
                sum += classAP(ranked[m][c], npos: npos, counts: counts, metric: metric, scratch: &scratch)
                scored += 1
            }
            return scored > 0 ? sum / Double(scored) : nil
        }

        /// The AP `DetectionEvaluator` gives the class on the resampled set (see `MAPBootstrap`).
        func classAP(_ r: Ranked, npos: Int, counts: [Int32], metric: APMetric, scratch: inout Scratch) -> Double {
            // Points after each weighted true positive: true positives before and after it, precision after it.
            var tp = 0, fp = 0, points = 0
            r.entries.withUnsafeBufferPointer { entries in
                counts.withUnsafeBufferPointer { w in
                    // False positives (most detections) are added without a test of their weight: no
                    // unpredictable branch in the loop; true positives are rare, their branch predictable.
                    for e in entries {
                        if e >= 0 {
                            fp += Int(w[Int(e)])
                        } else {
                            let weight = Int(w[Int(~e)])
                            if weight == 0 { continue }
                            scratch.before[points] = tp
                            tp += weight
                            scratch.after[points] = tp
                            scratch.precision[points] = Double(tp) / Double(tp + fp)
                            points += 1
                        }
                    }
                }
            }
            // Precision envelope (maximum over this point and the later ones).
            if points > 0 {
                scratch.envelope[points - 1] = scratch.precision[points - 1]
                for i in stride(from: points - 2, through: 0, by: -1) {
                    scratch.envelope[i] = Swift.max(scratch.precision[i], scratch.envelope[i + 1])
                }
            }
            let total = Double(npos)
            var ap = 0.0
            switch metric {
            case .voc07:
                var first = 0
                for k in 0...10 {
                    let t = Double(k) * 0.1
                    while first < points && !(Double(scratch.after[first]) / total >= t) { first += 1 }
                    let p = first < points ? scratch.envelope[first] : 0
                    ap = ap + p / 11
                }
            case .voc10:
                var previous = 0.0
                for i in 0..<points {
                    let e = scratch.envelope[i]
                    for s in (scratch.before[i] + 1)...scratch.after[i] {
                        let recall = Double(s) / total
                        if recall != previous { ap += (recall - previous) * e }
                        previous = recall
                    }
                }
            }
            return ap
        }
    }

    /// Per-thread buffers of `Tables.classAP`, one slot per true positive.
    struct Scratch {
        var before: [Int]
        var after: [Int]
        var precision: [Double]
        var envelope: [Double]
        init(capacity: Int) {
            before = [Int](repeating: 0, count: capacity)
            after = before
            precision = [Double](repeating: 0, count: capacity)
            envelope = precision
        }
    }
}
