import Foundation
import XCTest

/// The shared option groups (`--threads`, `--engine`, `--model`, `--voc-root`, calibration): the same spelling,
/// help and validation in every command, and a validation error shows that command's usage.
final class CommonOptionsTests: XCTestCase {
    func testThreadsIsValidatedTheSameWayEverywhere() throws {
        for command in [["quantize"], ["evaluate"], ["compare", "--report", "/tmp/x"], ["sensitivity", "--report", "/tmp/x"],
                        ["detect", "a.jpg"], ["demo"], ["bench"], ["dataset", "stats", "--voc-root", "/tmp", "--split", "test"]] {
            let run = try runMPQ(command + ["--threads", "0"])
            XCTAssertNotEqual(run.status, 0, "\(command)")
            XCTAssertTrue(run.stderr.contains("--threads must be at least 1, got 0."), "\(command): \(run.stderr)")
            let name = command.prefix { !$0.hasPrefix("-") && !$0.hasSuffix(".jpg") }.joined(separator: " ")
            XCTAssertTrue(run.stderr.contains("Usage: mpq \(name)"), "\(command): the command's own usage: \(run.stderr)")
        }
    }

    func testCalibrationAndEnumOptions() throws {
        for command in [["quantize"], ["compare", "--report", "/tmp/x"], ["sensitivity", "--report", "/tmp/x"]] {
            let run = try runMPQ(command + ["--calib-images", "0"])
            XCTAssertNotEqual(run.status, 0)
            XCTAssertTrue(run.stderr.contains("--calib-images must be at least 1, got 0."), "\(command): \(run.stderr)")
        }
        // Enums list their values in --help and refuse others.
        let engine = try runMPQ(["evaluate", "--engine", "fast"])
        XCTAssertNotEqual(engine.status, 0)
        XCTAssertTrue(engine.stderr.contains("int8") && engine.stderr.contains("simulated"), engine.stderr)
        let bench = try runMPQ(["bench", "--engine", "gpu"])
        XCTAssertNotEqual(bench.status, 0)
        XCTAssertTrue(bench.stderr.contains("onednn") && bench.stderr.contains("native"), bench.stderr)
        let arch = try runMPQ(["bench", "--arch", "yolo"])
        XCTAssertNotEqual(arch.status, 0)
        XCTAssertTrue(arch.stderr.contains("mb2-ssd-lite"), arch.stderr)
        let help = try runMPQ(["quantize", "--help"])
        XCTAssertTrue(help.stdout.contains("--calib-images <n>") && help.stdout.contains("--voc-root <dir>")
                      && help.stdout.contains("(values: int8,"), help.stdout)
    }
}
