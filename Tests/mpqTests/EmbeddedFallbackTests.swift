import Foundation
import XCTest

/// Commands that take `--model` / `--voc-root` fall back to the embedded demo detector and dataset when they are
/// omitted and say so in one line (run from an unrelated folder: the data is found by itself).
final class EmbeddedFallbackTests: XCTestCase {
    private static let note = "using the embedded demo "

    private func fallbackLines(_ run: MPQRun) -> [String] { run.stderrLines.filter { $0.contains(Self.note) } }

    private func run(_ arguments: [String]) throws -> MPQRun {
        try runMPQ(arguments + ["--threads", "2"], timeout: 600,
                   currentDirectory: FileManager.default.temporaryDirectory)
    }

    func testEvaluateAndDetectFallBack() throws {
        let both = try run(["evaluate", "--limit", "1", "--results", try temporaryFolder().path, "--json", "-"])
        XCTAssertExit(both, 0)
        XCTAssertEqual(fallbackLines(both).count, 1, both.stderr)
        XCTAssertTrue(fallbackLines(both).first?.contains("model and dataset from") == true, both.stderr)
        XCTAssertTrue(both.stderr.contains("mb2-ssd-lite-demo.pth"), both.stderr)
        let scores = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(both.stdout.utf8)) as? [String: Any])
        XCTAssertNotNil(scores["mAP"] as? Double)
        XCTAssertEqual(scores["split"] as? String, "test")
        XCTAssertEqual(scores["images"] as? Int, 1, "--limit 1")
        XCTAssertTrue((scores["model"] as? String)?.hasSuffix("mb2-ssd-lite-demo.pth") == true, "\(scores)")

        // Only the dataset given: the demo model (6 classes) does not fit a 2-class dataset — one clear line.
        let root = try makeTestDataset(splits: ["test": TestDataset.ids("b")])
        let modelOnly = try run(["evaluate", "--voc-root", root.path, "--results", try temporaryFolder().path])
        XCTAssertExit(modelOnly, 1)
        XCTAssertTrue(fallbackLines(modelOnly).first?.contains("demo model from") == true, modelOnly.stderr)
        XCTAssertTrue(modelOnly.stderr.contains("the model detects 6 classes"), modelOnly.stderr)
        // Both given: no note.
        let explicit = try run(["evaluate", "--model", TestDataset.checkpoint.path, "--voc-root", root.path,
                                "--limit", "1", "--results", try temporaryFolder().path])
        XCTAssertExit(explicit, 0)
        XCTAssertTrue(fallbackLines(explicit).isEmpty, explicit.stderr)

        // detect has images instead of a dataset: only the model falls back; names come from the demo labels.
        let image = RepositoryFixtures.voc2007.appendingPathComponent("JPEGImages/000001.jpg").path
        let detect = try run(["detect", image, "--score-threshold", "0.01", "--json", "-"])
        XCTAssertExit(detect, 0)
        XCTAssertEqual(fallbackLines(detect).count, 1, detect.stderr)
        XCTAssertTrue(fallbackLines(detect).first?.contains("demo model from") == true, detect.stderr)
        let detections = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(detect.stdout.utf8)) as? [[String: Any]])
        let classes = Set((detections.first?["detections"] as? [[String: Any]] ?? []).compactMap { $0["class"] as? String })
        XCTAssertFalse(classes.isEmpty)
        let labels = try String(contentsOf: DemoCommandTests.repositoryRoot
            .appendingPathComponent("VOCdevkit/MPQDemo/labels.txt"), encoding: .utf8)
        XCTAssertTrue(classes.isSubset(of: labels.split(separator: "\n").map(String.init)), "\(classes)")
    }

    func testQuantizeAndCompareFallBack() throws {
        let quantize = try run(["quantize", "--method", "rtn", "--abits", "32", "--calib-images", "1", "--json", "-"])
        XCTAssertExit(quantize, 0)
        XCTAssertEqual(fallbackLines(quantize).count, 1, quantize.stderr)
        XCTAssertTrue(fallbackLines(quantize).first?.contains("model and dataset from") == true, quantize.stderr)

        let report = try temporaryFolder()
        let compare = try run(["compare", "--methods", "rtn", "--avg-bits", "4", "--calib-images", "1", "--limit",
                               "1", "--report", report.path])
        XCTAssertExit(compare, 0)
        XCTAssertEqual(fallbackLines(compare).count, 1, compare.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: report.appendingPathComponent("compare.json"))) as? [String: Any])
        XCTAssertTrue((json["model"] as? String)?.hasSuffix("mb2-ssd-lite-demo.pth") == true)
    }
}
