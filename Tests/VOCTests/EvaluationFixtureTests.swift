import Foundation
import XCTest
@testable import Imaging
@testable import Evaluation
@testable import VOC

/// Randomised cases checked against an independent numpy implementation of the three matching rules
/// (`Scripts/gen_eval_fixtures.py`, outputs in `Fixtures/evaluation/random_*.json`). The cases contain score ties,
/// duplicates, difficult objects, images without objects, a class without objects, overlaps of exactly 1/2 and
/// result lines in shuffled order.
final class EvaluationFixtureTests: XCTestCase {
    struct Case: Decodable {
        struct Object: Decodable {
            let `class`: Int
            let box: [Int]
            let difficult: Bool
        }
        struct Expected: Decodable {
            let npos: Int
            let detections: Int
            let tp: Int
            let fp: Int
            let ignored: Int
            let voc07: Double?
            let voc10: Double?
        }
        struct Rule: Decodable {
            let classes: [String: Expected]
            let mAP: [String: Double?]
        }
        let seed: Int
        let classNames: [String]
        let imageIDs: [String]
        let objects: [[Object]]
        let results: [String: String]
        let expected: [String: Rule]
    }

    func loadCases() throws -> [Case] {
        let folder = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
            .appendingPathComponent("evaluation")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasPrefix("random_") }.sorted()
        XCTAssertEqual(files.count, 6)
        return try files.map { try JSONDecoder().decode(Case.self, from: Data(contentsOf: folder.appendingPathComponent($0))) }
    }

    func testRandomCasesMatchNumpyReference() throws {
        for c in try loadCases() {
            let gt = GroundTruth(classNames: c.classNames, imageIDs: c.imageIDs, objects: c.objects.map { list in
                list.map { GroundTruthObject(classIndex: $0.class, box: PixelBox(xmin: $0.box[0], ymin: $0.box[1],
                                             xmax: $0.box[2], ymax: $0.box[3]), difficult: $0.difficult) }
            })
            let detections = try c.classNames.map { name in
                try ResultFiles.parse(Data((c.results[name] ?? "").utf8), file: name, imageIndex: gt.imageIndex(of:))
            }
            for p in EvaluationProtocol.allCases {
                let rule = try XCTUnwrap(c.expected[p.rawValue])
                for metric in APMetric.allCases {
                    let result = DetectionEvaluator.evaluate(groundTruth: gt, detections: detections, metric: metric,
                                                             protocol: p)
                    let label = "seed \(c.seed) \(p.rawValue) \(metric.rawValue)"
                    for cls in result.classes {
                        let e = try XCTUnwrap(rule.classes[cls.name])
                        XCTAssertEqual([cls.positives, cls.detections, cls.truePositives, cls.falsePositives,
                                        cls.ignored], [e.npos, e.detections, e.tp, e.fp, e.ignored], "\(label) \(cls.name)")
                        let want = metric == .voc07 ? e.voc07 : e.voc10
                        XCTAssertEqual(cls.ap == nil, want == nil, "\(label) \(cls.name)")
                        if let ap = cls.ap, let want { XCTAssertEqual(ap, want, accuracy: 1e-12, "\(label) \(cls.name)") }
                    }
                    let wantMAP = rule.mAP[metric.rawValue] ?? nil
                    XCTAssertEqual(result.mAP ?? -1, wantMAP ?? -1, accuracy: 1e-12, label)
                }
            }
        }
    }

    /// The fixtures really exercise what they claim: the rules disagree somewhere, some class has npos = 0,
    /// some detections are ignored.
    func testFixturesCoverTheDifferences() throws {
        let cases = try loadCases()
        func tps(_ c: Case, _ rule: String) -> Int { c.expected[rule]?.classes.values.reduce(0) { $0 + $1.tp } ?? 0 }
        XCTAssertTrue(cases.contains { tps($0, "devkit") != tps($0, "py-faster-rcnn") })
        XCTAssertTrue(cases.contains { tps($0, "py-faster-rcnn") != tps($0, "pytorch-ssd") })
        XCTAssertTrue(cases.contains { $0.expected["devkit"]?.classes.values.contains { $0.npos == 0 } ?? false })
        XCTAssertTrue(cases.contains { $0.expected["devkit"]?.classes.values.contains { $0.ignored > 0 } ?? false })
    }
}
