import Foundation
import XCTest
@testable import Imaging
@testable import Evaluation
@testable import VOC

final class EvaluationReportTests: XCTestCase {
    func sampleResult() -> EvaluationResult {
        // Class a: TP then FP of npos 1 -> precision 1, 1/2; recall 1, 1 -> VOC10 AP 1. Class b: npos 0 -> n/a.
        let gt = groundTruth([[object(0, box(1, 1, 10, 10)), object(1, box(5, 5, 9, 9), difficult: true)]],
                             classes: ["a", "b"])
        return DetectionEvaluator.evaluate(groundTruth: gt, detections: [[det(0, 0.9, on: box(1, 1, 10, 10)),
                                           det(0, 0.1, 50, 50, 60, 60)], []], metric: .voc10, protocol: .devkit)
    }

    func testJSONHasExactKeysAndNullForNotApplicable() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(EvaluationReport.JSON(sampleResult())), as: UTF8.self)
        XCTAssertEqual(text, #"{"classes":{"a":{"ap":1,"detections":2,"npos":1},"b":{"ap":null,"detections":0,"npos":0}},"#
            + #""mAP":1,"metric":"voc10","protocol":"devkit"}"#)
    }

    func testTableAndMarkdown() {
        let result = sampleResult()
        let table = EvaluationReport.table(result)
        // Columns: class 12 wide (left), AP 8, npos 8, detections 12 (right-aligned).
        XCTAssertTrue(table.hasPrefix("class             AP    npos  detections\n"), table)
        XCTAssertTrue(table.contains("\na             1.0000       1           2\n"), table)
        XCTAssertTrue(table.contains("\nb                n/a       0           0\n"), table)
        XCTAssertTrue(table.contains("\nmAP           1.0000  (voc10, devkit, mean over 1 of 2 classes"), table)
        let md = EvaluationReport.markdown(result, title: "t", settings: [("split", "test")])
        XCTAssertTrue(md.contains("| a | 1.0000 | 1 | 2 | 1 | 1 | 0 | [svg](curves/a.svg) |"), md)
        XCTAssertTrue(md.contains("| b | n/a | 0 | 0 | 0 | 0 | 0 |  |"), md)
    }

    /// Class a's curve: raw points (r 1, p 1) and (r 1, p 0.5) -> x = 50 + 290 r, y = 30 + 220 (1 - p):
    /// "340.00,30.00 340.00,140.00"; the envelope steps from recall 0 to 1 at precision 1 (y 30).
    func testSVGCurve() {
        let result = sampleResult()
        let svg = PRCurveSVG.document(for: result.classes[0], metric: .voc10)
        XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertTrue(svg.contains("points=\"340.00,30.00 340.00,140.00\""), svg)
        XCTAssertTrue(svg.contains("points=\"50.00,30.00 50.00,30.00 340.00,30.00\""), svg)
        XCTAssertTrue(svg.hasSuffix("</svg>\n"))
        XCTAssertTrue(PRCurveSVG.document(for: result.classes[1], metric: .voc10).contains("AP n/a"))
        XCTAssertEqual(PRCurveSVG.fileName(className: "potted plant/x"), "curves/potted_plant_x.svg")
    }

    func testProgressLinesAndBar() {
        var lines: [String] = []
        let plain = ProgressReporter(label: "evaluate", isTerminal: false) { lines.append($0) }
        // 100 images, 40 resumed; 10 processed in 2 s -> 5 img/s; 50 left -> ETA 10 s.
        plain.update(.init(done: 40, total: 100, resumed: 40, elapsed: 0))
        plain.update(.init(done: 50, total: 100, resumed: 40, elapsed: 2))
        plain.update(.init(done: 51, total: 100, resumed: 40, elapsed: 2.2))  // same 5% step: silent
        XCTAssertEqual(lines, ["evaluate: 40/100 images (40.0%), resumed 40\n",
                               "evaluate: 50/100 images (50.0%), 5.0 img/s, ETA 10s\n"])
        var drawn: [String] = []
        let bar = ProgressReporter(label: "evaluate", isTerminal: true) { drawn.append($0) }
        bar.update(.init(done: 100, total: 100, resumed: 0, elapsed: 125))
        XCTAssertEqual(drawn, ["\r" + "evaluate [" + String(repeating: "#", count: 30) + "] 100/100 0.8 img/s, ETA 0s"
            + "\u{1B}[K\n"])
        XCTAssertEqual(ProgressReporter.duration(3725), "1h02m")
    }
}
