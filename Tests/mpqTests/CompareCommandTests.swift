import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// `mpq compare` end to end: the small MobileNetV2 SSD-Lite parity checkpoint (width 0.25, car/chair) on the
/// shared test dataset (calibration on trainval a000003…, scoring on test b000003…).
final class CompareCommandTests: XCTestCase {
    private func compare(_ root: URL, report: URL, _ extra: [String]) throws -> MPQRun {
        try runMPQ(["compare", "--model", TestDataset.checkpoint.path, "--voc-root", root.path, "--threads", "1",
                    "--report", report.path] + extra, timeout: 600)
    }

    private func json(_ report: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: report.appendingPathComponent("compare.json"))) as? [String: Any])
    }

    func testCompareWritesTableJSONChartAndHTML() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let report = try temporaryFolder()
        let run = try compare(root, report: report, ["--methods", "rtn,gptq,ocs,mixed,multipoint", "--avg-bits",
                                                     "3.25", "--calib-images", "1", "--limit", "1"])
        XCTAssertExit(run, 0)
        let json = try json(report)
        XCTAssertEqual(json["abits"] as? Int, 8, "8-bit activations by default")
        let rows = try XCTUnwrap(json["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.compactMap { $0["method"] as? String }, ["fp32", "rtn", "gptq", "ocs", "mixed", "multipoint"])
        var bits: [String: Double] = [:]
        for row in rows {
            let method = try XCTUnwrap(row["method"] as? String)
            let map = try XCTUnwrap(row["map"] as? Double)
            XCTAssertTrue(validMAP.contains(map), method)
            bits[method] = try XCTUnwrap(row["average_bits"] as? Double)
            for key in ["extra_macs", "model_bytes", "seconds", "point_bits"] { XCTAssertNotNil(row[key], key) }
        }
        // rtn/gptq at b = floor(3.25) = 3 exactly; the budgeted methods spend at most 3.25 bits.
        XCTAssertEqual(bits["rtn"], 3)
        XCTAssertEqual(bits["gptq"], 3)
        for m in ["ocs", "mixed", "multipoint"] {
            let b = try XCTUnwrap(bits[m])
            XCTAssertLessThanOrEqual(b, 3.25, m)
            XCTAssertGreaterThanOrEqual(b, m == "mixed" ? 2 : 3, m)
        }
        XCTAssertGreaterThan(try XCTUnwrap(bits["multipoint"]), 3)
        for file in ["compare.md", "compare.svg", "compare.html"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: report.appendingPathComponent(file).path), file)
        }
        let html = try String(contentsOf: report.appendingPathComponent("compare.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<svg"))
        XCTAssertTrue(html.contains("Activations: 8 bits"))
        XCTAssertTrue(run.stdout.contains("| multipoint | 3.25 | 3 |"))

        // One scored image: every bootstrap resample is that image, so each interval is the point itself and each
        // difference interval the difference (exactly: the resample is the evaluator's own computation).
        XCTAssertEqual((json["bootstrap"] as? [String: Any])?["images"] as? Int, 1)
        XCTAssertEqual((json["bootstrap"] as? [String: Any])?["resamples"] as? Int, 1000)
        let fp32 = try XCTUnwrap(rows.first?["map"] as? Double)
        let rtn = try XCTUnwrap(rows[1]["map"] as? Double)
        for row in rows {
            let method = try XCTUnwrap(row["method"] as? String)
            let map = try XCTUnwrap(row["map"] as? Double)
            XCTAssertEqual(row["map_ci95"] as? [Double], [map, map], method)
            if method == "fp32" {
                for key in ["delta_vs_fp32", "delta_ci95", "delta_vs_rtn", "delta_vs_rtn_ci95"] {
                    XCTAssertNil(row[key], key)
                }
                continue
            }
            // JSON numbers read back by JSONSerialization: equal to within its last bit.
            let delta = try XCTUnwrap(row["delta_vs_fp32"] as? Double, method)
            XCTAssertEqual(delta, map - fp32, accuracy: 1e-12, method)
            XCTAssertEqual(row["delta_ci95"] as? [Double], [delta, delta], method)
            if method == "rtn" {
                XCTAssertNil(row["delta_vs_rtn"])
            } else {
                let vsRTN = try XCTUnwrap(row["delta_vs_rtn"] as? Double, method)
                XCTAssertEqual(vsRTN, map - rtn, accuracy: 1e-12, method)
                XCTAssertEqual(row["delta_vs_rtn_ci95"] as? [Double], [vsRTN, vsRTN], method)
            }
        }
        XCTAssertTrue(run.stdout.contains("| mAP 95% CI | Δ vs fp32 [95% CI] | Δ vs rtn [95% CI] |"), run.stdout)
        XCTAssertTrue(run.stdout.contains("95% intervals: paired bootstrap, 1000 resamples of the 1 scored images"))
        let svg = try Data(contentsOf: report.appendingPathComponent("compare.svg"))
        XCTAssertTrue(XMLParser(data: svg).parse(), "compare.svg is well-formed XML")
        XCTAssertEqual(String(decoding: svg, as: UTF8.self).components(separatedBy: "<path d=\"M").count - 1, 5,
                       "one error bar per quantized point")
    }

    /// Three scored images, intervals off and on: --bootstrap 0 leaves the interval fields out; a difference
    /// interval always has lo <= hi and the flag in the table agrees with it.
    func testBootstrapOffAndOn() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let off = try temporaryFolder()
        XCTAssertExit(try compare(root, report: off, ["--methods", "rtn,mse", "--avg-bits", "4", "--calib-images", "1",
                                                      "--bootstrap", "0"]), 0)
        let offRows = try XCTUnwrap(try json(off)["rows"] as? [[String: Any]])
        XCTAssertNil(try json(off)["bootstrap"])
        XCTAssertNil(offRows[0]["map_ci95"])
        XCTAssertNotNil(offRows[1]["delta_vs_fp32"], "the difference itself does not need the bootstrap")
        XCTAssertNil(offRows[1]["delta_ci95"])
        let on = try temporaryFolder()
        let run = try compare(root, report: on, ["--methods", "rtn,mse", "--avg-bits", "4", "--calib-images", "1",
                                                 "--bootstrap", "300", "--seed", "5"])
        XCTAssertExit(run, 0)
        let rows = try XCTUnwrap(try json(on)["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["map"] as? Double }, offRows.map { $0["map"] as? Double })
        let mse = rows[2]
        let ci = try XCTUnwrap(mse["delta_vs_rtn_ci95"] as? [Double])
        XCTAssertLessThanOrEqual(ci[0], ci[1])
        let line = try XCTUnwrap(run.stdout.split(separator: "\n").first { $0.hasPrefix("| mse |") })
        XCTAssertEqual(line.hasSuffix("n.s. |"), ci[0] <= 0 && 0 <= ci[1], String(line))
    }

    /// `--abits` reaches every method through the same path as `mpq quantize`: compare's rtn row at --abits 32
    /// and at --abits 8 has exactly the map_after of `mpq quantize --method rtn` with the same activation bits
    /// (same calibration images, same scored images), its fp32 row the map_before, and the two differ.
    func testActivationBitsMatchQuantize() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        var compared: [Int: Double] = [:]
        for abits in [32, 8] {
            let report = try temporaryFolder()
            let run = try compare(root, report: report, ["--methods", "rtn", "--avg-bits", "4", "--abits", "\(abits)",
                                                         "--calib-images", "2"])
            XCTAssertExit(run, 0)
            let json = try json(report)
            XCTAssertEqual(json["abits"] as? Int, abits)
            let rows = try XCTUnwrap(json["rows"] as? [[String: Any]])
            let q = try runMPQ(["quantize", "--model", TestDataset.checkpoint.path, "--voc-root", root.path,
                                "--method", "rtn", "--wbits", "4", "--abits", "\(abits)", "--calib-images", "2",
                                "--evaluate", "--json", "-", "--threads", "1"], timeout: 600)
            XCTAssertExit(q, 0)
            let quantized = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(q.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(rows.first?["map"] as? Double, try XCTUnwrap(quantized["map_before"] as? Double))
            let rtn = try XCTUnwrap(rows.last?["map"] as? Double)
            XCTAssertEqual(rtn, try XCTUnwrap(quantized["map_after"] as? Double), "abits \(abits)")
            // The same images, the same seed: the same resamples, so the same intervals in both commands.
            XCTAssertEqual(rows.first?["map_ci95"] as? [Double], quantized["map_before_ci95"] as? [Double])
            XCTAssertEqual(rows.last?["map_ci95"] as? [Double], quantized["map_after_ci95"] as? [Double])
            XCTAssertEqual(rows.last?["delta_ci95"] as? [Double], quantized["delta_ci95"] as? [Double])
            compared[abits] = rtn
        }
        XCTAssertNotEqual(compared[32], compared[8], "8-bit activations change the detections")
        let bad = try compare(root, report: try temporaryFolder(), ["--abits", "16"])
        XCTAssertExit(bad, 64)
        XCTAssertTrue(bad.stderr.contains("--abits must be between 2 and 8, or 32"), bad.stderr)
    }

    func testHelpNamesMethodsActivationBitsAndExamples() throws {
        let run = try runMPQ(["compare", "--help"])
        XCTAssertExit(run, 0)
        for text in ["--model <file>", "--voc-root <dir>", "--methods <list>", "--avg-bits <list>", "--abits <bits>",
                     "--sensitivity <file>", "from: rtn, mse, multipoint,", "embedded demo", "Examples:"] {
            XCTAssertTrue(run.stdout.contains(text), "missing '\(text)' in:\n\(run.stdout)")
        }
    }

    func testUnknownMethodIsAValidationError() throws {
        let run = try runMPQ(["compare", "--model", "x.pth", "--voc-root", "/nonexistent", "--methods", "rtn,foo",
                              "--report", "/tmp/unused"])
        XCTAssertExit(run, 64)
        XCTAssertTrue(run.stderr.contains("Unknown method 'foo'"))
    }
}
