import XCTest
@testable import Imaging
@testable import Evaluation
@testable import VOC

/// Hand-computed scoring cases; the arithmetic is in the comments. VOC07 APs are compared with a 1e-15 tolerance
/// because the devkit's loop adds p/11 eleven times: 11 x (1/11) sums to 1.0000000000000002, not 1.
final class EvaluationTests: XCTestCase {
    let a1 = box(1, 1, 10, 10), a2 = box(21, 1, 30, 10), a3 = box(1, 1, 10, 10), a4 = box(1, 21, 10, 30)

    /// Ranked TP FP TP FP(duplicate) TP with npos = 4:
    /// cumTP 1 1 2 2 3, cumFP 0 1 1 2 2 -> precision 1, 1/2, 2/3, 1/2, 3/5; recall .25 .25 .5 .5 .75.
    /// VOC07: t = 0, .1, .2 -> 1; t = .3, .4, .5 -> max(2/3, 1/2, 3/5) = 2/3; t = .6, .7 -> 3/5; t = .8, .9, 1 -> 0.
    ///   AP = (3 * 1 + 3 * 2/3 + 2 * 3/5) / 11 = 6.2 / 11.
    /// VOC10: envelope at the recall steps: .25 -> 1, .5 -> 2/3, .75 -> 3/5, 1 -> 0.
    ///   AP = .25 * 1 + .25 * 2/3 + .25 * 3/5 = 0.25 * 34/15 = 17/30.
    func testTruePositiveFalsePositiveSequenceElevenPointAndArea() {
        let gt = groundTruth([[object(0, a1), object(0, a2)], [object(0, a3), object(0, a4)]])
        let dets = [det(0, 0.9, on: a1), det(0, 0.8, 100, 100, 110, 110), det(1, 0.7, on: a3),
                    det(1, 0.6, on: a3), det(0, 0.5, on: a2)]
        let r07 = score(gt, dets, metric: .voc07)
        XCTAssertEqual(r07.positives, 4)
        XCTAssertEqual(r07.truePositives, 3)
        XCTAssertEqual(r07.falsePositives, 2)
        XCTAssertEqual(r07.precision, [1, 0.5, 2.0 / 3, 0.5, 0.6])
        XCTAssertEqual(r07.recall, [0.25, 0.25, 0.5, 0.5, 0.75])
        XCTAssertEqual(r07.ap ?? -1, 6.2 / 11, accuracy: 1e-15)
        XCTAssertEqual(score(gt, dets, metric: .voc10).ap ?? -1, 17.0 / 30, accuracy: 1e-15)
    }

    /// npos = 10 and three true positives: recall .1 .2 .3 (3/10 = 0.29999999999999999 in binary).
    /// VOC07 thresholds are Double(k) * 0.1: 0.1 and 0.2 are reached, 3 * 0.1 = 0.30000000000000004 is not.
    /// AP = (1 + 1 + 1 + 0 * 8) / 11 = 3/11 (it would be 4/11 if 0.3 counted).
    func testElevenPointThresholdThreeTenthsIsNotReachedByRecallThreeTenths() {
        XCTAssertGreaterThan(3 * 0.1, 3.0 / 10)
        let boxes = (0..<10).map { box(1 + 20 * $0, 1, 10 + 20 * $0, 10) }
        let gt = groundTruth([boxes.map { object(0, $0) }])
        let dets = (0..<3).map { det(0, 1 - Double($0) * 0.1, on: boxes[$0]) }
        let r = score(gt, dets)
        XCTAssertEqual(r.recall.last, 0.3)
        XCTAssertEqual(r.ap ?? -1, 3.0 / 11, accuracy: 1e-15)
        // Area: 0.3 * 1 = 0.3 (3/10 in floating point).
        XCTAssertEqual(score(gt, dets, metric: .voc10).ap ?? -1, 0.3, accuracy: 1e-15)
    }

    /// Equal scores keep file order. npos = 1; file order: FP (elsewhere), then TP, both score 0.5.
    /// Ranked FP, TP: precision 0, 1/2; recall 0, 1. VOC07: every t reaches only rank 2 -> 11 * 0.5 / 11 = 0.5.
    /// VOC10: recall steps 0 -> 1 at precision 1/2 -> 0.5. Reversing the file order ranks the TP first -> AP 1.
    func testTiesKeepFileOrder() {
        let gt = groundTruth([[object(0, a1)]])
        let fp = det(0, 0.5, 50, 50, 60, 60), tp = det(0, 0.5, on: a1)
        XCTAssertEqual(score(gt, [fp, tp]).ap ?? -1, 0.5, accuracy: 1e-15)
        XCTAssertEqual(score(gt, [fp, tp], metric: .voc10).ap, 0.5)
        XCTAssertEqual(score(gt, [tp, fp]).ap ?? -1, 1, accuracy: 1e-15)
        XCTAssertEqual(score(gt, [tp, fp], metric: .voc10).ap, 1)
    }

    /// A detection on a difficult object is ignored (neither TP nor FP). npos = 1 (the difficult one is not counted).
    /// Ranked: ignored, TP, FP: cumTP 0 1 1, cumFP 0 0 1 -> precision 0 (0/0 taken as 0), 1, 1/2; recall 0, 1, 1.
    /// VOC07: every t >= 0 first reached at rank 2 -> max(1, 1/2) = 1 -> AP 1. VOC10: step 0 -> 1 at 1 -> AP 1.
    /// Were the difficult object a plain FP, AP07 would be 11 * 1/2 / 11 = 0.5.
    func testDifficultObjectsAreIgnored() {
        let hard = box(40, 40, 60, 60)
        let gt = groundTruth([[object(0, a1), object(0, hard, difficult: true)]])
        let dets = [det(0, 0.9, on: hard), det(0, 0.8, on: a1), det(0, 0.7, 100, 100, 120, 120)]
        let r = score(gt, dets)
        XCTAssertEqual(r.positives, 1)
        XCTAssertEqual([r.truePositives, r.falsePositives, r.ignored], [1, 1, 1])
        XCTAssertEqual(r.precision, [0, 1, 0.5])
        XCTAssertEqual(r.ap ?? -1, 1, accuracy: 1e-15)
        XCTAssertEqual(score(gt, dets, metric: .voc10).ap, 1)
    }

    /// Only the argmax ground truth is tried: g1 = (1,1,10,10) and g2 = (1,1,10,12) in one image; two detections
    /// exactly on g1. The second overlaps g1 with 1 (taken) and g2 with 100/120 = 0.83 >= 0.5, but the devkit only
    /// looks at the argmax, g1, so it is a duplicate -> FP. npos 2: precision 1, 1/2; recall 1/2, 1/2.
    /// VOC07: t <= .5 -> 1 (6 thresholds: 0 .. 0.5), above -> 0: AP = 6/11.
    func testDuplicateOnArgmaxIsFalsePositiveEvenIfAnotherBoxIsFree() {
        let g1 = box(1, 1, 10, 10), g2 = box(1, 1, 10, 12)
        let gt = groundTruth([[object(0, g1), object(0, g2)]])
        let r = score(gt, [det(0, 0.9, on: g1), det(0, 0.8, on: g1)])
        XCTAssertEqual([r.truePositives, r.falsePositives], [1, 1])
        XCTAssertEqual(r.ap ?? -1, 6.0 / 11, accuracy: 1e-15)
    }

    /// Image 1 has no objects: its detection is a FP. Ranked FP (score .9), TP: precision 0, 1/2; recall 0, 1
    /// -> VOC07 AP 0.5.
    func testDetectionOnImageWithoutGroundTruthIsFalsePositive() {
        let gt = groundTruth([[object(0, a1)], []])
        let r = score(gt, [det(1, 0.9, on: a1), det(0, 0.8, on: a1)])
        XCTAssertEqual([r.truePositives, r.falsePositives], [1, 1])
        XCTAssertEqual(r.ap ?? -1, 0.5, accuracy: 1e-15)
    }

    /// Class "b" has only a difficult object (npos = 0): AP is nil and the mAP is class "a"'s AP alone.
    /// Class "a": one exact detection -> AP 1. Class "b": detections present but not scored.
    func testClassWithoutPositivesIsReportedAndExcludedFromMAP() {
        let gt = groundTruth([[object(0, a1), object(1, a2, difficult: true)]], classes: ["a", "b"])
        let result = DetectionEvaluator.evaluate(groundTruth: gt, detections: [[det(0, 0.9, on: a1)],
                                                 [det(0, 0.9, on: a2), det(0, 0.5, 50, 50, 60, 60)]],
                                                 metric: .voc07, protocol: .devkit)
        XCTAssertEqual(result.classes[0].ap ?? -1, 1, accuracy: 1e-15)
        XCTAssertNil(result.classes[1].ap)
        XCTAssertEqual(result.classes[1].positives, 0)
        XCTAssertEqual(result.classes[1].detections, 2)
        XCTAssertEqual(result.mAP ?? -1, 1, accuracy: 1e-15)
        // With no class scorable the mAP itself is nil.
        let none = DetectionEvaluator.evaluate(groundTruth: groundTruth([[]], classes: ["a"]), detections: [[]],
                                               metric: .voc10, protocol: .devkit)
        XCTAssertNil(none.mAP)
    }

    /// No detections for a class with positives: AP 0 under both metrics.
    func testNoDetectionsGivesZero() {
        let gt = groundTruth([[object(0, a1)]])
        XCTAssertEqual(score(gt, [], metric: .voc07).ap, 0)
        XCTAssertEqual(score(gt, [], metric: .voc10).ap, 0)
    }

    /// Overlap exactly 1/2 with inclusive pixels: gt (1,1,10,10) is 10 x 10 = 100, det (1,1,10,5) is 10 x 5 = 50,
    /// all inside: ov = 50 / (50 + 100 - 50) = 0.5. devkit (>= 0.5): TP; py-faster-rcnn (> 0.5): FP.
    /// pytorch-ssd: gt (0,0,9,9) area 81, det (0,0,9,4) area 36: 36 / (81 + 1e-5) = 0.444 -> FP.
    func testOverlapExactlyOneHalf() {
        let gt = groundTruth([[object(0, a1)]])
        let d = [det(0, 0.9, 1, 1, 10, 5)]
        XCTAssertEqual(BoxOverlap.inclusiveOverlap(d[0], a1), 0.5)
        XCTAssertEqual(score(gt, d, protocol: .devkit).truePositives, 1)
        XCTAssertEqual(score(gt, d, protocol: .pyFasterRCNN).truePositives, 0)
        XCTAssertEqual(score(gt, d, protocol: .pytorchSSD).truePositives, 0)
    }

    /// pytorch-ssd's shift and missing +1: gt (1,1,11,11) -> 0-based (0,0,10,10), area 100.
    /// det (1,1,11,6) -> (0,0,10,5), area 50 = overlap: IoU = 50 / (100 + 1e-5) just below 0.5 -> FP
    /// (without the 1e-5 it would be exactly 0.5, still not > 0.5). devkit: 11 x 6 = 66 of 121 -> 66/121 = .545 -> TP.
    /// det (1,1,11,8) -> (0,0,10,7): IoU = 70 / 100.00001 = 0.69999 -> TP under both.
    func testPytorchSSDContinuousBoxes() {
        let g = box(1, 1, 11, 11)
        let gt = groundTruth([[object(0, g)]])
        let half = det(0, 0.9, 1, 1, 11, 6)
        XCTAssertEqual(BoxOverlap.continuousIoU(0, 0, 10, 5, g), Float(50) / (Float(100) + Float(1e-5)))
        XCTAssertLessThan(BoxOverlap.continuousIoU(0, 0, 10, 5, g), 0.5)
        XCTAssertEqual(score(gt, [half], protocol: .pytorchSSD).truePositives, 0)
        XCTAssertEqual(BoxOverlap.inclusiveOverlap(half, g) ?? -1, 66.0 / 121, accuracy: 1e-15)
        XCTAssertEqual(score(gt, [half], protocol: .devkit).truePositives, 1)
        let seventy = det(0, 0.9, 1, 1, 11, 8)
        XCTAssertEqual(Double(BoxOverlap.continuousIoU(0, 0, 10, 7, g)), 0.7, accuracy: 1e-6)
        XCTAssertEqual(score(gt, [seventy], protocol: .pytorchSSD).truePositives, 1)
    }

    /// Touching boxes: devkit inclusive pixels make (1,1,10,10) and (10,1,19,10) share column 10 (10 pixels):
    /// ov = 10 / (100 + 100 - 10) = 1/19; boxes one pixel apart (11..20) do not intersect (nil).
    func testInclusiveOverlapOfTouchingBoxes() {
        XCTAssertEqual(BoxOverlap.inclusiveOverlap(det(0, 1, 10, 1, 19, 10), a1) ?? -1, 10.0 / 190, accuracy: 1e-15)
        XCTAssertNil(BoxOverlap.inclusiveOverlap(det(0, 1, 11, 1, 20, 10), a1))
    }

    /// The ground truth builder skips unknown class names and keeps annotation order.
    func testGroundTruthFromAnnotations() {
        let ann = VOCAnnotation(folder: nil, filename: "x.jpg", width: 50, height: 50, depth: 3, segmented: false,
                                objects: [VOCObject(name: "dog", box: a1), VOCObject(name: "tree", box: a2),
                                          VOCObject(name: "cat", difficult: true, box: a4)])
        let gt = GroundTruth(classNames: ["cat", "dog"], annotations: [(id: "000007", annotation: ann)])
        XCTAssertEqual(gt.objects[0], [object(1, a1), object(0, a4, difficult: true)])
        XCTAssertEqual(gt.positives(ofClass: 0), 0)
        XCTAssertEqual(gt.positives(ofClass: 1), 1)
        XCTAssertEqual(gt.imageIndex(of: "000007"), 0)
        XCTAssertNil(gt.imageIndex(of: "000008"))
    }
}
