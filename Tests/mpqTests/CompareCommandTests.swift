import Foundation
import XCTest

/// `mpq compare` end to end: the small MobileNetV2 SSD-Lite parity checkpoint (width 0.25, car/chair) on
/// VOC2007 sample images 000003-000005 (test = trainval), one calibration image, one scored image.
final class CompareCommandTests: XCTestCase {
    private func dataset() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-compare-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        for folder in ["Annotations", "ImageSets/Main", "JPEGImages"] {
            try fm.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let ids = (3...5).map { String(format: "%06d", $0) }
        for id in ids {
            try fm.copyItem(at: RepositoryFixtures.voc2007.appendingPathComponent("Annotations/\(id).xml"),
                            to: root.appendingPathComponent("Annotations/\(id).xml"))
            try fm.copyItem(at: RepositoryFixtures.voc2007.appendingPathComponent("JPEGImages/\(id).jpg"),
                            to: root.appendingPathComponent("JPEGImages/\(id).jpg"))
        }
        for split in ["test", "trainval"] {
            try Data((ids.joined(separator: "\n") + "\n").utf8)
                .write(to: root.appendingPathComponent("ImageSets/Main/\(split).txt"))
        }
        try Data("car\nchair\n".utf8).write(to: root.appendingPathComponent("labels.txt"))
        return root
    }

    func testCompareWritesTableJSONChartAndHTML() throws {
        let root = try dataset()
        let report = root.appendingPathComponent("report")
        let run = try runMPQ(["compare", "--model", EvaluateCommandTests.checkpoint.path, "--voc-root", root.path,
                              "--methods", "rtn,gptq,ocs,mixed,multipoint", "--avg-bits", "3.25",
                              "--calib-images", "1", "--limit", "1", "--threads", "1", "--report", report.path],
                             timeout: 600)
        XCTAssertExit(run, 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: report.appendingPathComponent("compare.json"))) as? [String: Any])
        let rows = try XCTUnwrap(json["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.compactMap { $0["method"] as? String }, ["fp32", "rtn", "gptq", "ocs", "mixed", "multipoint"])
        var bits: [String: Double] = [:]
        for row in rows {
            let method = try XCTUnwrap(row["method"] as? String)
            let map = try XCTUnwrap(row["map"] as? Double)
            XCTAssertTrue((0...1).contains(map), method)
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
        XCTAssertTrue(run.stdout.contains("| multipoint | 3.25 | 3 |"))
    }

    func testUnknownMethodIsAValidationError() throws {
        let run = try runMPQ(["compare", "--model", "x.pth", "--voc-root", "/nonexistent", "--methods", "rtn,foo",
                              "--report", "/tmp/unused"])
        XCTAssertExit(run, 64)
        XCTAssertTrue(run.stderr.contains("Unknown method 'foo'"))
    }
}
