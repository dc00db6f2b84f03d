import Foundation
import XCTest

/// The DFQ, AdaRound and random-allocation methods through `mpq quantize` and `mpq compare` on the small
/// MobileNetV2 SSD-Lite parity checkpoint and the shared test dataset.
final class DFQCommandTests: XCTestCase {
    private func quantize(_ root: URL, _ extra: [String]) throws -> MPQRun {
        try runMPQ(["quantize", "--model", TestDataset.checkpoint.path, "--voc-root", root.path, "--calib-images", "2",
                    "--threads", "1", "--json", "-"] + extra, timeout: 600)
    }

    private func report(_ run: MPQRun) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stderr)
    }

    private func layerErrors(_ json: [String: Any]) -> [String: Double] {
        let layers = json["layers"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: layers.compactMap { l in
            (l["name"] as? String).flatMap { n in (l["rel_output_error"] as? Double).map { (n, $0) } }
        })
    }

    /// dfq runs both steps and names itself; adaround is never above rtn's error in any layer; the random
    /// allocation spends exactly the adaptive allocation's bits and writes the two figures.
    func testDFQAdaRoundAndRandomAllocation() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let dfq = try quantize(root, ["--method", "dfq", "--wbits", "4"])
        XCTAssertExit(dfq, 0)
        XCTAssertEqual(try report(dfq)["method"] as? String, "dfq")
        XCTAssertTrue(dfq.stderr.contains("cross-layer equalization: 2 conv pairs"), dfq.stderr)
        XCTAssertTrue(dfq.stderr.contains("bias correction:"), dfq.stderr)

        let rtn = try quantize(root, ["--method", "rtn", "--wbits", "3"])
        let ada = try quantize(root, ["--method", "adaround", "--wbits", "3", "--adaround-iterations", "50"])
        XCTAssertExit(ada, 0)
        let rtnErrors = layerErrors(try report(rtn)), adaErrors = layerErrors(try report(ada))
        XCTAssertEqual(Set(rtnErrors.keys), Set(adaErrors.keys))
        for (name, e) in adaErrors { XCTAssertLessThanOrEqual(e, (rtnErrors[name] ?? 0) * (1 + 1e-6) + 1e-12, name) }
        XCTAssertLessThan(adaErrors.values.reduce(0, +), rtnErrors.values.reduce(0, +))

        let folder = try temporaryFolder()
        let adaptive = try quantize(root, ["--method", "multipoint", "--wbits", "3", "--avg-bits", "3.5"])
        let random = try quantize(root, ["--method", "multipoint", "--allocation", "random", "--seed", "3",
                                         "--wbits", "3", "--avg-bits", "3.5", "--report", folder.path])
        XCTAssertExit(random, 0)
        let a = try report(adaptive), r = try report(random)
        XCTAssertEqual(r["method"] as? String, "multipoint-random")
        XCTAssertEqual(try XCTUnwrap(a["avg_bits"] as? Double), try XCTUnwrap(r["avg_bits"] as? Double),
                       accuracy: 1e-12)
        for file in ["report.html", "errors_vs_points.svg", "points_per_channel_multipoint_random.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), file)
        }

        let refused = try quantize(root, ["--method", "rtn", "--allocation", "random"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--allocation random needs --method multipoint"), refused.stderr)
    }

    /// compare: the new methods as rows, rtn+cle+bc rows with --cle --bias-correction, figures in the report.
    func testCompareRowsAndFigures() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let folder = try temporaryFolder()
        let run = try runMPQ(["compare", "--model", TestDataset.checkpoint.path, "--voc-root", root.path,
                              "--threads", "1", "--report", folder.path, "--methods",
                              "rtn,dfq,adaround,multipoint,multipoint-random", "--avg-bits", "4.5",
                              "--adaround-iterations", "20", "--calib-images", "1", "--limit", "1"], timeout: 600)
        XCTAssertExit(run, 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: folder.appendingPathComponent("compare.json"))) as? [String: Any])
        let rows = try XCTUnwrap(json["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.compactMap { $0["method"] as? String },
                       ["fp32", "rtn", "dfq", "adaround", "multipoint", "multipoint-random"])
        let bits = Dictionary(uniqueKeysWithValues: rows.compactMap { r in
            (r["method"] as? String).flatMap { m in (r["average_bits"] as? Double).map { (m, $0) } }
        })
        XCTAssertEqual(bits["multipoint"] ?? 0, bits["multipoint-random"] ?? 1, accuracy: 1e-12)
        XCTAssertEqual(bits["dfq"], 4)
        XCTAssertNotNil(rows.first { $0["method"] as? String == "dfq" }?["delta_vs_rtn"], "dfq is paired with rtn")
        let html = try String(contentsOf: folder.appendingPathComponent("compare.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("Layer output error vs points per channel"))
        XCTAssertTrue(html.contains("Points per channel: multipoint-4.50"))
        for file in ["errors_vs_points.svg", "points_per_channel_multipoint_4_50.svg",
                     "points_per_channel_multipoint_random_4_50.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), file)
        }

        let steps = try runMPQ(["compare", "--model", TestDataset.checkpoint.path, "--voc-root", root.path,
                                "--threads", "1", "--report", try temporaryFolder().path, "--methods", "rtn,mse",
                                "--avg-bits", "4", "--cle", "--bias-correction", "--calib-images", "1", "--limit", "1"],
                           timeout: 600)
        XCTAssertTrue(steps.stderr.contains("rtn+cle+bc") || steps.stdout.contains("rtn+cle+bc"),
                      steps.stdout + steps.stderr)
    }
}
