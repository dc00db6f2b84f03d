import XCTest
import VOC
@testable import SSD

final class NonMaximumSuppressionTests: XCTestCase {
    func testIoUHandComputed() {
        // a = (0, 0, 2, 2), b = (1, 1, 3, 3): inter 1, areas 4 + 4 -> 1 / 7 (+ eps 1e-5 in the qfgaohao union).
        let a = SIMD4<Float>(0, 0, 2, 2), b = SIMD4<Float>(1, 1, 3, 3)
        XCTAssertEqual(NonMaximumSuppression(convention: .qfgaohao).iou(a, b), 1 / (7 + 1e-5), accuracy: 1e-7)
        XCTAssertEqual(NonMaximumSuppression(convention: .amdegroot).iou(a, b), 1.0 / 7, accuracy: 1e-7)
    }

    func testGreedySuppressionAndThresholds() {
        // Two classes (+ background), four priors.
        // Class 1: p0 0.9 (0,0,1,1); p1 0.8 (0.1,0.1,1,1) inside p0: IoU 0.81 / (1 + 0.81 - 0.81) -> dropped;
        //          p2 0.7 disjoint -> kept; p3 0.005 below 0.01 -> never a candidate.
        // Class 2: only p3 (0.5) qualifies.
        let boxes: [Float] = [0, 0, 1, 1, 0.1, 0.1, 1, 1, 2, 2, 3, 3, 0, 0, 0.5, 0.5]
        let scores: [Float] = [0.1, 0.9, 0.0, 0.2, 0.8, 0.0, 0.3, 0.7, 0.0, 0.495, 0.005, 0.5]
        let d = NonMaximumSuppression().detections(scores: scores, boxes: boxes, classes: 3, width: 100, height: 50)
        XCTAssertEqual(d, [
            Detection(classIndex: 0, score: 0.9, x1: 0, y1: 0, x2: 100, y2: 50),
            Detection(classIndex: 0, score: 0.7, x1: 200, y1: 100, x2: 300, y2: 150),
            Detection(classIndex: 1, score: 0.5, x1: 0, y1: 0, x2: 50, y2: 25),
        ])
    }

    func testIoUExactlyAtThresholdIsKept() {
        // (0,0,1,1) vs (0,0,0.45,1): IoU = 0.45 / 1 (amdegroot form, no eps) -> kept (<= 0.45).
        let nms = NonMaximumSuppression(convention: .amdegroot)
        let boxes: [Float] = [0, 0, 1, 1, 0, 0, 0.45, 1]
        let kept = boxes.withUnsafeBufferPointer { nms.suppress([(0, 0.9), (1, 0.8)], boxes: $0) }
        XCTAssertEqual(kept, [0, 1])
    }

    func testCandidateLimitAndTieOrder() {
        // 250 identical boxes with equal scores: only the first (lowest index) survives; with distinct disjoint
        // boxes only the 200 best are candidates.
        let unit: [Float] = [0, 0, 1, 1]
        let same: [Float] = Array((0..<250).map { _ in unit }.joined())
        let kept = same.withUnsafeBufferPointer { b in
            NonMaximumSuppression().suppress((0..<250).map { ($0, Float(0.5)) }, boxes: b)
        }
        XCTAssertEqual(kept, [0])
        var disjoint: [Float] = []
        for i in 0..<250 { disjoint += [Float(2 * i), 0, Float(2 * i + 1), 1] }
        let kept2 = disjoint.withUnsafeBufferPointer { b in
            NonMaximumSuppression().suppress((0..<250).map { ($0, Float($0) / 1000) }, boxes: b)
        }
        XCTAssertEqual(kept2, Array((50..<250).reversed()))
    }

    /// The Swift post-processing on PyTorch's own scores and boxes reproduces PyTorch's detections exactly.
    func testPostprocessingOfGoldenArraysMatchesPyTorch() throws {
        let manifest = try ParityFixtures.manifest()
        for c in manifest.cases {
            guard let arch = Architecture(rawValue: c.arch),
                  let image = manifest.images.first(where: { $0.id == c.golden_image }),
                  let file = c.detections[c.golden_image] else { return XCTFail("bad manifest entry \(c.name)") }
            let scores = try ParityFixtures.floats(c.scores), boxes = try ParityFixtures.floats(c.boxes)
            var nms = arch.nms
            nms.scoreThreshold = 0.01
            let got = nms.detections(scores: scores, boxes: boxes, classes: c.num_classes, width: image.width,
                                     height: image.height)
            let want = try ParityFixtures.detections(file)
            XCTAssertGreaterThan(want.count, 100, c.name)
            XCTAssertEqual(got, want, "\(c.name): \(got.count) vs \(want.count) detections")
        }
    }
}
