import Parallelism
import VOC
import Foundation

/// The score of one class.
public struct ClassEvaluation: Sendable {
    public let name: String
    /// Non-difficult ground-truth objects (the devkit's `npos`).
    public let positives: Int
    /// Detections scored (the class's result-file lines).
    public let detections: Int
    public let truePositives: Int
    public let falsePositives: Int
    /// Detections matched to a difficult object: neither true nor false positives.
    public let ignored: Int
    /// Average precision; nil when the class has no positives (see `DetectionEvaluator`).
    public let ap: Double?
    /// Cumulative precision after each ranked detection (0 while no detection has counted yet); empty when
    /// `positives == 0`. Layout: `[detections]`, best score first.
    public let precision: [Double]
    /// Cumulative recall after each ranked detection; empty when `positives == 0`. Layout: `[detections]`.
    public let recall: [Double]
}

/// The score of a whole detector output.
public struct EvaluationResult: Sendable {
    public let metric: APMetric
    public let evaluationProtocol: EvaluationProtocol
    public let classes: [ClassEvaluation]
    /// Mean AP over the classes that have positives; nil if none has.
    public let mAP: Double?
}

/// PASCAL VOC detection scoring (`VOCevaldet.m` and its variants, see `EvaluationProtocol`).
///
/// Classes without positives (`npos = 0`, e.g. a class absent from a small split, or present only as difficult
/// objects) get `ap == nil` and are left out of the mAP. Their recall is 0/0: the devkit then computes NaN recalls,
/// so its VOC07 AP is 0 (no NaN is `>= t`) and its area AP NaN (when there are detections); py-faster-rcnn gives 0;
/// pytorch-ssd stops with a KeyError. Counting such a class as 0 would lower the mAP for a class that cannot be
/// scored, so we report it as "n/a" instead.
///
/// Where the first ranked detections are all ignored (difficult), precision there is 0/0: it is taken as 0, like
/// py-faster-rcnn (`tp / max(tp + fp, eps)`) and like MATLAB's `max`, which skips NaN. (pytorch-ssd's numpy `max`
/// would propagate the NaN into the AP; we do not reproduce that.)
public enum DetectionEvaluator {
    /// Scores `detections[c]` (the detections of class `c`, in result-file order) against `groundTruth`.
    /// - Precondition: `detections.count == groundTruth.classNames.count`; image indices inside the ground truth.
    public static func evaluate(groundTruth: GroundTruth, detections: [[ScoredBox]], metric: APMetric,
                                protocol evaluationProtocol: EvaluationProtocol) -> EvaluationResult {
        precondition(detections.count == groundTruth.classNames.count, "one detection list per class")
        // Classes are independent: score them in parallel, each into its own slot (deterministic).
        let scored = OrderedParallel.map(count: groundTruth.classNames.count, threads: ProcessInfo.processInfo.activeProcessorCount) { c in
            evaluateClass(c, groundTruth: groundTruth, detections: detections[c], metric: metric,
                          protocol: evaluationProtocol)
        }
        let aps = scored.compactMap(\.ap)
        let mAP = aps.isEmpty ? nil : aps.reduce(0, +) / Double(aps.count)
        return EvaluationResult(metric: metric, evaluationProtocol: evaluationProtocol, classes: scored, mAP: mAP)
    }

    /// Scores one class.
    public static func evaluateClass(_ c: Int, groundTruth: GroundTruth, detections: [ScoredBox], metric: APMetric,
                                     protocol evaluationProtocol: EvaluationProtocol) -> ClassEvaluation {
        let matched = match(c, groundTruth: groundTruth, detections: detections, protocol: evaluationProtocol)
        var tp = 0, fp = 0, ignored = 0
        var precision: [Double] = []
        var recall: [Double] = []
        let npos = matched.positives
        if npos > 0 {
            precision.reserveCapacity(matched.order.count)
            recall.reserveCapacity(matched.order.count)
        }
        for outcome in matched.outcomes {
            switch outcome {
            case .truePositive: tp += 1
            case .falsePositive: fp += 1
            case .ignored: ignored += 1
            }
            if npos > 0 {
                recall.append(Double(tp) / Double(npos))
                precision.append(tp + fp > 0 ? Double(tp) / Double(tp + fp) : 0)
            }
        }
        let ap = npos > 0 ? AveragePrecision.compute(precision: precision, recall: recall, metric: metric) : nil
        return ClassEvaluation(name: groundTruth.classNames[c], positives: npos, detections: detections.count,
                               truePositives: tp, falsePositives: fp, ignored: ignored, ap: ap,
                               precision: precision, recall: recall)
    }

    /// What a ranked detection counts as once matched.
    enum Outcome: UInt8 {
        case truePositive, falsePositive
        /// Matched to a difficult object: neither true nor false positive.
        case ignored
    }

    /// The devkit's matching loop for one class: the detections ranked (descending score, ties in list order) and
    /// each one's outcome in that order. Matching looks only at the detection's own image (its boxes and the
    /// boxes already taken there by better-ranked detections), which is what lets `MAPBootstrap` reuse the
    /// outcomes for every resample of the images.
    /// - Returns: `order[k]` = index in `detections` of the k-th ranked detection, `outcomes[k]` its outcome,
    ///   `positives` the class's non-difficult objects.
    static func match(_ c: Int, groundTruth: GroundTruth, detections: [ScoredBox],
                      protocol evaluationProtocol: EvaluationProtocol)
        -> (order: [Int], outcomes: [Outcome], positives: Int) {
        let index = ClassGroundTruthIndex(groundTruth: groundTruth, classIndex: c)
        // Descending score; ties keep file order (MATLAB's sort is stable), made explicit by the index tie-break.
        let order = detections.indices.sorted { a, b in
            let sa = detections[a].score, sb = detections[b].score
            return sa != sb ? sa > sb : a < b
        }
        var matched = [Bool](repeating: false, count: index.boxes.count)
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(order.count)
        for d in order {
            let det = detections[d]
            precondition(groundTruth.imageIDs.indices.contains(det.imageIndex), "detection image index out of range")
            let range = index.range(ofImage: det.imageIndex)
            let best = BoxOverlap.bestMatch(det, candidates: index.boxes[range], protocol: evaluationProtocol)
            if let j = best, BoxOverlap.isMatch(j.overlap, protocol: evaluationProtocol) {
                let g = range.lowerBound + j.offset
                if index.difficult[g] {
                    outcomes.append(.ignored)
                } else if !matched[g] {
                    matched[g] = true
                    outcomes.append(.truePositive)
                } else {
                    outcomes.append(.falsePositive)
                }
            } else {
                outcomes.append(.falsePositive)
            }
        }
        return (order, outcomes, index.positives)
    }
}

/// The ground-truth boxes of one class grouped by image (compressed rows), so each detection looks only at its own
/// image's boxes: O(detections x boxes per image) instead of O(detections x all boxes).
struct ClassGroundTruthIndex {
    /// Boxes of the class, image by image, in annotation order.
    var boxes: [PixelBox] = []
    var difficult: [Bool] = []
    /// `boxes[start[i]..<start[i + 1]]` belong to image `i`. Layout: `[images + 1]`.
    var start: [Int] = [0]
    var positives = 0

    init(groundTruth: GroundTruth, classIndex c: Int) {
        start.reserveCapacity(groundTruth.objects.count + 1)
        for objects in groundTruth.objects {
            for object in objects where object.classIndex == c {
                boxes.append(object.box)
                difficult.append(object.difficult)
                if !object.difficult { positives += 1 }
            }
            start.append(boxes.count)
        }
    }

    func range(ofImage i: Int) -> Range<Int> { start[i]..<start[i + 1] }
}
