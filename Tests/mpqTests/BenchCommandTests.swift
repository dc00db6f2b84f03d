import Foundation
import XCTest
@testable import mpq

/// `mpq bench` end to end on a small SSD fixture (read from the source tree).
final class BenchCommandTests: XCTestCase {
    private func testsPath(_ relative: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(relative).path
    }

    private var model: String { testsPath("SSDTests/Fixtures/parity/torch/small-mb2-w0.25-c3.pth") }

    func testJSONReportHasTheDocumentedFields() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-bench-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: out) }
        var command = try Bench.parseAsRoot(["--model", model, "--threads", "2", "--runs", "1",
                                             "--image", testsPath("VOCTests/Fixtures/images/chroma444.jpg"),
                                             "--json", out.path])
        try command.run()
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        XCTAssertEqual(json["threads"] as? Int, 2)
        XCTAssertEqual(json["architecture"] as? String, "mb2-ssd-lite")
        for key in ["forward_ms", "pipeline_ms"] {
            let stats = try XCTUnwrap(json[key] as? [String: Double], key)
            let lo = try XCTUnwrap(stats["min"]), mid = try XCTUnwrap(stats["median"]), hi = try XCTUnwrap(stats["max"])
            XCTAssertTrue(0 < lo && lo <= mid && mid <= hi, "\(key): \(stats)")
        }
        XCTAssertGreaterThan(try XCTUnwrap(json["gflops"] as? Double), 0)
        XCTAssertGreaterThan(try XCTUnwrap(json["peak_rss_mb"] as? Double), 1)
        XCTAssertFalse(try XCTUnwrap(json["blas_core"] as? String).isEmpty)
        XCTAssertEqual(json["engine"] as? String, "onednn")
        XCTAssertNil(json["engine_note"] as? String)
    }

    /// The real binary reports libgomp's spin as the process runs with it: the library default unless the user
    /// chose one (mpq does not change it, see `ProcessEnvironment`).
    func testTheOpenMPSpinIsReported() throws {
        var base = ProcessInfo.processInfo.environment
        for key in ["GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "MPQ_ENVIRONMENT_SET"] { base[key] = nil }
        var chosen = base
        chosen["GOMP_SPINCOUNT"] = "777"
        for (environment, expected) in [(base, "libgomp default"), (chosen, "777")] {
            let run = try runMPQ(["bench", "--model", model, "--threads", "1", "--runs", "1", "--forward-only",
                                  "--json", "-"], environment: environment)
            XCTAssertExit(run, 0)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(json["omp_spin"] as? String, expected, run.stderr)
        }
    }

    /// `--engine native` times our own kernels and says so.
    func testEngineChoiceIsReported() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-bench-engine-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: out) }
        var command = try Bench.parseAsRoot(["--model", model, "--threads", "1", "--runs", "1", "--forward-only",
                                             "--engine", "native", "--json", out.path])
        try command.run()
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        XCTAssertEqual(json["engine"] as? String, "native")
        XCTAssertNil(json["pipeline_ms"] as? [String: Double])
    }

    func testBadInputIsAValidationErrorOrAClearFileError() throws {
        XCTAssertThrowsError(try Bench.parseAsRoot(["--model", model, "--runs", "0"]))
        XCTAssertThrowsError(try Bench.parseAsRoot(["--model", model, "--threads", "0"]))
        XCTAssertThrowsError(try Bench.parseAsRoot(["--model", model, "--arch", "resnet"]))
        XCTAssertThrowsError(try Bench.parseAsRoot(["--model", model, "--engine", "cuda"])) { error in
            XCTAssertTrue(Bench.message(for: error).contains("cuda"), Bench.message(for: error))
        }
        XCTAssertThrowsError(try Bench.parseAsRoot(["--model", model, "--image", "/nonexistent.jpg"]))
        XCTAssertThrowsError(try Bench.parseAsRoot(["--model", model, "--runs", "-1"]))
        var command = try Bench.parseAsRoot(["--model", testsPath("VOCTests/Fixtures/images/gray.jpg")])
        XCTAssertThrowsError(try command.run()) { error in
            XCTAssertTrue("\(error)".contains("gray.jpg"), "\(error)")
        }
    }

    /// Without --model: the embedded demo detector; a quantized file: the int8 engine by default, simulated on
    /// request, each reporting its oneDNN kernels; int8 on a float checkpoint is refused.
    func testDefaultModelAndQuantizedEngines() throws {
        let demo = try runMPQ(["bench", "--runs", "1", "--forward-only", "--threads", "1", "--json", "-"])
        XCTAssertExit(demo, 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(demo.stdout.utf8)) as? [String: Any])
        XCTAssertTrue((json["model"] as? String ?? "").hasSuffix("mb2-ssd-lite-demo.pth"), "\(json["model"] ?? "")")
        XCTAssertEqual(json["engine"] as? String, "onednn")

        let refused = try runMPQ(["bench", "--model", model, "--engine", "int8", "--runs", "1"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--engine int8 is for quantized model files"), refused.stderr)
    }
}
