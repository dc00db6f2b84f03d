import Foundation
import XCTest

/// `mpq evaluate` end to end with a small real checkpoint (MobileNetV2 SSD-Lite, width 0.25, 2 classes + background,
/// from the SSD parity fixtures) on a 6-image dataset made of VOC2007 sample files 000003-000005, each twice.
final class EvaluateCommandTests: XCTestCase {
    static let checkpoint = TestDataset.checkpoint

    /// Ids a000003...a000005 and b000003...b000005, class list "car, chair".
    private func dataset() throws -> URL {
        try makeTestDataset(splits: ["test": TestDataset.ids("a") + TestDataset.ids("b")])
    }

    private func evaluate(_ root: URL, _ results: URL, _ extra: [String] = []) throws -> MPQRun {
        try runMPQ(["evaluate", "--model", Self.checkpoint.path, "--voc-root", root.path, "--split", "test",
                    "--results", results.path, "--json", "-", "--threads", "1"] + extra, timeout: 600)
    }

    /// One test (one reference run shared): reports, shard merge, settings mismatch, kill and resume.
    func testFullRunShardsMergeResume() throws {
        let root = try dataset()
        let full = try temporaryFolder()
        let run = try evaluate(root, full)
        XCTAssertExit(run, 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let classes = try XCTUnwrap(json["classes"] as? [String: [String: Any]])
        XCTAssertEqual(Set(classes.keys), ["car", "chair"])
        XCTAssertEqual(classes["car"]?["npos"] as? Int, 14)  // 7 cars in 000004, twice
        XCTAssertEqual(classes["chair"]?["npos"] as? Int, 8)  // (1 + 3 non-difficult) twice
        for file in ["comp4_det_test_car.txt", "comp4_det_test_chair.txt", "summary.md", "curves/car.svg",
                     "curves/chair.svg", "progress.journal"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: full.appendingPathComponent(file).path), file)
        }
        XCTAssertFalse(run.stderr.contains("\u{1B}["), "no terminal codes when stderr is not a terminal")
        XCTAssertTrue(run.stderr.contains("evaluate: 6/6 images (100.0%)"), run.stderr)

        // Two shards, merged by evaluate-detections: the same JSON as the single run.
        let shards = [try temporaryFolder(), try temporaryFolder()]
        for (i, folder) in shards.enumerated() {
            let shardRun = try evaluate(root, folder, ["--shard", "\(i)/2"])
            XCTAssertExit(shardRun, 0)
            XCTAssertTrue(shardRun.stderr.contains("3/3 images"), shardRun.stderr)
        }
        let merged = try runMPQ(["evaluate-detections", "--voc-root", root.path, "--split", "test", "--json", "-",
                                 "--results", shards[0].path, "--results", shards[1].path])
        XCTAssertExit(merged, 0)
        XCTAssertEqual(merged.stdout, withoutModelLine(run.stdout))
        XCTAssertNotEqual(withoutModelLine(run.stdout), run.stdout, "evaluate names its model")

        // Same folder, other settings: refused, and the finished work is untouched.
        let other = try evaluate(root, full, ["--limit", "3"])
        XCTAssertExit(other, 1)
        XCTAssertTrue(other.stderr.contains("belongs to another run"), other.stderr)

        // A class list that does not fit the model: one clear line, exit 1.
        let three = try temporaryFolder().appendingPathComponent("three.txt")
        try Data("car\nchair\ndog\n".utf8).write(to: three)
        let mismatch = try runMPQ(["evaluate", "--model", Self.checkpoint.path, "--voc-root", root.path, "--split",
                                   "test", "--classes", three.path, "--results", try temporaryFolder().path])
        XCTAssertExit(mismatch, 1)
        XCTAssertTrue(mismatch.stderr.contains("the model detects 2 classes (plus background) but the class list "),
                      mismatch.stderr)
        // Kill -9 once a few images are recorded, rerun the same command: it resumes and ends with the files and
        // scores of the uninterrupted run.
        try killAndResume(root, reference: full, whole: run)
    }

    private func killAndResume(_ root: URL, reference: URL, whole: MPQRun) throws {
        let folder = try temporaryFolder()
        let process = Process()
        process.executableURL = try mpqBinaryURL()
        process.arguments = ["evaluate", "--model", Self.checkpoint.path, "--voc-root", root.path, "--split", "test",
                             "--results", folder.path, "--threads", "1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let journal = folder.appendingPathComponent("progress.journal")
        let deadline = Date().addingTimeInterval(300)
        var recorded = 0
        while process.isRunning && Date() < deadline {
            let text = (try? String(contentsOf: journal, encoding: .utf8)) ?? ""
            recorded = text.split(separator: "\n").count - 1
            if recorded >= 2 { break }
            usleep(20_000)
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let resumed = try evaluate(root, folder)
        XCTAssertExit(resumed, 0)
        XCTAssertEqual(resumed.stdout, whole.stdout)
        for name in ["car", "chair"] {
            let file = "comp4_det_test_\(name).txt"
            XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent(file)),
                           try Data(contentsOf: reference.appendingPathComponent(file)), file)
        }
        // The kill landed after at least 2 recorded images (more may have been written since the last poll).
        XCTAssertGreaterThanOrEqual(recorded, 2, "the run ended before the test could kill it")
        XCTAssertTrue(resumed.stderr.contains("resumed "), resumed.stderr)
    }

    /// The default results folder is keyed by split and limit: changing --limit starts a new folder instead of
    /// meeting the previous run's journal.
    func testDefaultResultsFolderFollowsTheLimit() throws {
        let root = try dataset()
        let cwd = try temporaryFolder()
        for limit in ["2", "3", "2"] {
            let run = try runMPQ(["evaluate", "--model", Self.checkpoint.path, "--voc-root", root.path, "--split", "test",
                                  "--limit", limit, "--json", "-", "--threads", "1"], currentDirectory: cwd)
            XCTAssertExit(run, 0)
            XCTAssertTrue(FileManager.default.fileExists(
                atPath: cwd.appendingPathComponent("runs/small-mb2-w0.25-c3/test-first\(limit)/progress.journal").path),
                run.stderr)
        }
    }
}

/// `evaluate --json` without its `model` line: what `evaluate-detections --json` on the same result files prints
/// (it scores files, not a model, so it cannot name one).
func withoutModelLine(_ json: String) -> String {
    json.split(separator: "\n", omittingEmptySubsequences: false)
        .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("\"model\" :") }.joined(separator: "\n")
}
