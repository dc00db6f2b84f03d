import Foundation
import XCTest

/// `mpq diagnose` and `mpq quantize --diagnose` end to end on the small parity checkpoint and the three-image
/// test dataset (`TestDataset.calibrationAndTest`), plus the refusals of bad input.
final class DiagnoseCommandTests: XCTestCase {
    private func json(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], url.path)
    }

    /// quantize --evaluate --diagnose writes the report from the model in memory; mpq diagnose of the saved
    /// file writes the same diagnose.json, byte for byte; its float and quantized mAP are the ones --evaluate
    /// printed, and the weights-only / activations-only rows are real variants between them.
    func testQuantizeDiagnoseAndDiagnoseOfTheSavedFileAgree() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let tmp = try temporaryFolder()
        let out = tmp.appendingPathComponent("q.safetensors")
        let inline = tmp.appendingPathComponent("inline"), saved = tmp.appendingPathComponent("saved")
        let quantized = try runMPQ(["quantize", "--model", TestDataset.checkpoint.path, "--voc-root", root.path,
                                    "--calib-images", "2", "--threads", "1", "--method", "rtn", "--wbits", "4",
                                    "--abits", "8", "--evaluate", "--split", "test", "--json", "-", "--out", out.path,
                                    "--diagnose", inline.path, "--bootstrap", "100"], timeout: 600)
        XCTAssertExit(quantized, 0)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(quantized.stdout.utf8)) as? [String: Any],
                                   "stdout keeps only the JSON: \(quantized.stdout)")
        XCTAssertTrue(quantized.stderr.contains("what broke:"), "the summary goes to stderr with --json -")

        let diagnosed = try runMPQ(["diagnose", "--model", TestDataset.checkpoint.path, "--quantized", out.path,
                                    "--voc-root", root.path, "--threads", "1", "--report", saved.path,
                                    "--bootstrap", "100"], timeout: 600)
        XCTAssertExit(diagnosed, 0)
        XCTAssertTrue(diagnosed.stdout.contains("what broke:\n  1. "), diagnosed.stdout)
        XCTAssertTrue(diagnosed.stdout.contains("report in \(saved.path) (diagnose.json, diagnose.md, report.html)"))
        for folder in [inline, saved] {
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(),
                           ["diagnose.json", "diagnose.md", "report.html"], folder.path)
        }
        XCTAssertEqual(try Data(contentsOf: inline.appendingPathComponent("diagnose.json")),
                       try Data(contentsOf: saved.appendingPathComponent("diagnose.json")),
                       "the saved file diagnoses exactly like the model it was written from")

        let d = try json(saved.appendingPathComponent("diagnose.json"))
        XCTAssertEqual(d["method"] as? String, "rtn")
        XCTAssertEqual(d["images"] as? Int, 3, "all of split test")
        let variants = try XCTUnwrap(d["variants"] as? [[String: Any]])
        let maps = Dictionary(uniqueKeysWithValues: variants.compactMap { v in
            (v["name"] as? String).map { ($0, v["map"] as? Double) }
        })
        XCTAssertEqual(maps["float"] ?? nil, try XCTUnwrap(report["map_before"] as? Double))
        XCTAssertEqual(maps["quantized"] ?? nil, try XCTUnwrap(report["map_after"] as? Double))
        for name in ["weights_only", "activations_only", "quantized_scores_float_boxes", "float_scores_quantized_boxes"] {
            let m = try XCTUnwrap(maps[name] ?? nil, name)
            XCTAssertTrue(validMAP.contains(m), name)
        }
        let float = try XCTUnwrap(variants.first)
        XCTAssertTrue(float["delta_ci95"] is NSNull, "float has no difference to itself")
        let layers = try XCTUnwrap(d["layers"] as? [[String: Any]])
        let first = try XCTUnwrap(layers.first)
        XCTAssertEqual(first["wbits"] as? Int, 4)
        XCTAssertEqual(first["abits"] as? Int, 8)
        let broke = try XCTUnwrap(d["what_broke"] as? [[String: Any]])
        XCTAssertEqual(broke.count, 10, "--top default")
        let sqnrs = broke.compactMap { $0["sqnr_db"] as? Double }
        XCTAssertEqual(sqnrs, sqnrs.sorted(), "ranked lowest own SQNR first")
        let md = try String(contentsOf: saved.appendingPathComponent("diagnose.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("| quantized model | \(out.path) |"), md)
        let topName = try XCTUnwrap(broke.first?["layer"] as? String)
        XCTAssertTrue(try String(contentsOf: saved.appendingPathComponent("report.html"), encoding: .utf8)
            .contains(topName))
    }

    /// A bad --quantized file: one line naming the file and the problem, non-zero exit, no report folder.
    func testBadQuantizedFileIsOneLineErrorAndWritesNothing() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let tmp = try temporaryFolder()
        let garbage = tmp.appendingPathComponent("garbage.safetensors")
        try Data("not a model at all".utf8).write(to: garbage)
        // A real quantized file cut short: its tensors point past the end.
        let whole = tmp.appendingPathComponent("whole.safetensors"), cut = tmp.appendingPathComponent("cut.safetensors")
        XCTAssertExit(try runMPQ(["quantize", "--model", TestDataset.checkpoint.path, "--voc-root", root.path,
                                  "--calib-images", "1", "--threads", "1", "--method", "rtn", "--out", whole.path],
                                 timeout: 600), 0)
        let bytes = try Data(contentsOf: whole)
        try bytes.prefix(bytes.count / 2).write(to: cut)
        let cases: [(String, String)] = [
            (cut.path, "outside the"),
            (tmp.appendingPathComponent("missing.safetensors").path, "no such quantized model file"),
            (garbage.path, garbage.path),
            (TestDataset.checkpoint.path, "not a quantized model file"),
        ]
        for (path, expected) in cases {
            let report = tmp.appendingPathComponent("report-\(UUID().uuidString)")
            let run = try runMPQ(["diagnose", "--model", TestDataset.checkpoint.path, "--quantized", path,
                                  "--voc-root", root.path, "--threads", "1", "--report", report.path])
            XCTAssertEqual(run.reason, .exit, path)
            XCTAssertNotEqual(run.status, 0, path)
            XCTAssertEqual(run.stderrLines.count, 1, "one line: \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(path), run.stderr)
            XCTAssertTrue(run.stderr.contains(expected), run.stderr)
            XCTAssertEqual(run.stdout, "")
            XCTAssertFalse(FileManager.default.fileExists(atPath: report.path), "nothing written for \(path)")
        }
    }

    /// sensitivity --quantize: a multipoint method with activations only is refused; an activations report is
    /// refused by quantize --method mixed --sensitivity with one line naming the file.
    func testSensitivityOperandRefusals() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let tmp = try temporaryFolder()
        let refused = try runMPQ(["sensitivity", "--model", TestDataset.checkpoint.path, "--voc-root", root.path,
                                  "--quantize", "activations", "--method", "multipoint", "--report", tmp.path])
        XCTAssertEqual(refused.reason, .exit)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--quantize activations keeps"), refused.stderr)

        let table = tmp.appendingPathComponent("act.json")
        try Data(#"{"layers":[],"map_fp32":0.5,"quantize":"activations"}"#.utf8).write(to: table)
        let mixed = try runMPQ(["quantize", "--model", TestDataset.checkpoint.path, "--voc-root", root.path,
                                "--method", "mixed", "--avg-bits", "4", "--sensitivity", table.path,
                                "--threads", "1"])
        XCTAssertEqual(mixed.reason, .exit)
        XCTAssertNotEqual(mixed.status, 0)
        XCTAssertEqual(mixed.stderrLines.filter { $0.contains("Error") }.count, 1, mixed.stderr)
        XCTAssertTrue(mixed.stderr.contains("\(table.path): made with mpq sensitivity --quantize activations"),
                      mixed.stderr)
    }
}
