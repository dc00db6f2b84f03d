import Foundation
import XCTest

/// `mpq demo --limit 8` end to end on the embedded demo data (the shipped model and test images).
final class DemoCommandTests: XCTestCase {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func testReducedDemoWritesSummaryAndReport() throws {
        let model = Self.repositoryRoot.appendingPathComponent("VOCdevkit/MPQDemo/model/mb2-ssd-lite-demo.pth")
        guard FileManager.default.fileExists(atPath: model.path) else {
            print("DemoCommandTests skipped: the demo model \(model.path) is not in this checkout")
            return
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-demo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        // Run from an unrelated folder: the demo must find its data by itself.
        let run = try runMPQ(["demo", "--limit", "8", "--out", out.path, "--threads", "2"], timeout: 300,
                             currentDirectory: FileManager.default.temporaryDirectory)
        XCTAssertExit(run, 0)
        XCTAssert(run.stderr.contains("using the embedded demo"), run.stderr)

        let data = try Data(contentsOf: out.appendingPathComponent("summary.json"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["map_fp32", "map_fp32_ci95", "runs", "seconds", "bootstrap"])
        let bootstrap = try XCTUnwrap(json["bootstrap"] as? [String: Any])
        XCTAssertEqual(bootstrap["images"] as? Int, 8, "--limit 8")
        XCTAssertEqual(bootstrap["resamples"] as? Int, 1000)
        let fp32CI = try XCTUnwrap(json["map_fp32_ci95"] as? [Double])
        XCTAssertEqual(fp32CI.count, 2)
        XCTAssertLessThan(fp32CI[0], fp32CI[1], "8 different test images: the resamples differ")
        let fp32 = try XCTUnwrap(json["map_fp32"] as? Double)
        XCTAssert(fp32 > 0 && validMAP.contains(fp32), "float mAP \(fp32)")
        let seconds = try XCTUnwrap(json["seconds"] as? Double)
        XCTAssert(seconds > 0 && seconds < 300)
        let runs = try XCTUnwrap(json["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.map { $0["method"] as? String }, ["rtn", "multipoint", "rtn", "multipoint"])
        XCTAssertEqual(runs.map { $0["wbits"] as? Int }, [4, 4, 3, 3])
        for run in runs {
            XCTAssertEqual(Set(run.keys), ["method", "wbits", "abits", "avg_bits", "map", "map_ci95", "delta_vs_fp32",
                                           "delta_ci95"])
            // (JSON text read back: equal to within the parser's last bit.)
            XCTAssertEqual(try XCTUnwrap(run["delta_vs_fp32"] as? Double), try XCTUnwrap(run["map"] as? Double) - fp32,
                           accuracy: 1e-12)
            for key in ["map_ci95", "delta_ci95"] {
                let ci = try XCTUnwrap(run[key] as? [Double], key)
                XCTAssertEqual(ci.count, 2)
                XCTAssertLessThanOrEqual(ci[0], ci[1], key)
            }
            XCTAssertEqual(run["abits"] as? Int, 8)
            let map = try XCTUnwrap(run["map"] as? Double), avg = try XCTUnwrap(run["avg_bits"] as? Double)
            let wbits = Double(try XCTUnwrap(run["wbits"] as? Int))
            XCTAssert(validMAP.contains(map))
            if run["method"] as? String == "rtn" {
                XCTAssertEqual(avg, wbits)
            } else {
                // The budget wbits + 0.25 is never exceeded, and at least one extra point fits.
                XCTAssert(avg > wbits && avg <= wbits + 0.25, "avg bits \(avg)")
            }
        }
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssert(html.contains("<svg") && html.contains("multipoint"))
        XCTAssert(html.contains("95% intervals: paired bootstrap, 1000 resamples of the 8 test images"))
        XCTAssert(run.stdout.contains("mAP 95%"), run.stdout)
        XCTAssert(FileManager.default.fileExists(atPath: out.appendingPathComponent("sensitivity/sensitivity.json").path))
    }
}
