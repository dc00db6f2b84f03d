@testable import Imaging
@testable import Evaluation
@testable import VOC

/// Shorthands for building evaluation cases by hand.
func box(_ x1: Int, _ y1: Int, _ x2: Int, _ y2: Int) -> PixelBox { PixelBox(xmin: x1, ymin: y1, xmax: x2, ymax: y2) }

func object(_ c: Int, _ b: PixelBox, difficult: Bool = false) -> GroundTruthObject {
    GroundTruthObject(classIndex: c, box: b, difficult: difficult)
}

func det(_ image: Int, _ score: Double, _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double) -> ScoredBox {
    ScoredBox(imageIndex: image, score: score, x1: x1, y1: y1, x2: x2, y2: y2)
}

/// A detection exactly on a ground-truth box (overlap 1 under every protocol).
func det(_ image: Int, _ score: Double, on b: PixelBox) -> ScoredBox {
    det(image, score, Double(b.xmin), Double(b.ymin), Double(b.xmax), Double(b.ymax))
}

func groundTruth(_ objects: [[GroundTruthObject]], classes: [String] = ["a"]) -> GroundTruth {
    GroundTruth(classNames: classes, imageIDs: objects.indices.map { "img\($0)" }, objects: objects)
}

func score(_ gt: GroundTruth, _ detections: [ScoredBox], class c: Int = 0, metric: APMetric = .voc07,
           protocol p: EvaluationProtocol = .devkit) -> ClassEvaluation {
    DetectionEvaluator.evaluateClass(c, groundTruth: gt, detections: detections, metric: metric, protocol: p)
}
