import Foundation
import XCTest

/// `mpq evaluate --baseline` and the bootstrap fields of evaluate / evaluate-detections, end to end on the
/// 6-image test dataset (a000003…a000005, b000003…b000005; class list car, chair) with the small parity checkpoints.
final class EvaluateBaselineTests: XCTestCase {
    static let vgg = RepositoryFixtures.testsFolder
        .appendingPathComponent("SSDTests/Fixtures/parity/torch/small-vgg16-ssd-l2norm-c3.pth")

    private func evaluate(_ model: URL, _ root: URL, _ results: URL, split: String = "test",
                          _ extra: [String] = []) throws -> MPQRun {
        try runMPQ(["evaluate", "--model", model.path, "--voc-root", root.path, "--split", split,
                    "--results", results.path, "--json", "-", "--threads", "1"] + extra, timeout: 600)
    }

    private func object(_ run: MPQRun) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout)
    }

    private func interval(_ value: Any?) throws -> [Double] {
        let pair = try XCTUnwrap(value as? [Double], "\(String(describing: value))")
        XCTAssertEqual(pair.count, 2)
        return pair
    }

    func testBaselineFolderModelFileAndRefusals() throws {
        let root = try makeTestDataset(splits: ["test": TestDataset.ids("a") + TestDataset.ids("b"),
                                                "small": TestDataset.ids("a")])
        let mb2 = TestDataset.checkpoint
        // The baseline run: its own interval, how it was drawn.
        let baseFolder = try temporaryFolder()
        let base = try evaluate(mb2, root, baseFolder)
        XCTAssertExit(base, 0)
        let baseJSON = try object(base)
        let baseMAP = try XCTUnwrap(baseJSON["mAP"] as? Double)
        let baseCI = try interval(baseJSON["map_ci95"])
        XCTAssertLessThanOrEqual(baseCI[0], baseCI[1])
        XCTAssertLessThan(baseCI[0], baseCI[1], "6 images with different objects: resamples differ")
        let settings = try XCTUnwrap(baseJSON["bootstrap"] as? [String: Any])
        XCTAssertEqual(settings["resamples"] as? Int, 1000)
        XCTAssertEqual(settings["seed"] as? Int, 0)
        XCTAssertEqual(settings["images"] as? Int, 6)
        XCTAssertNil(baseJSON["baseline"])
        XCTAssertNil(baseJSON["delta_ci95"])
        XCTAssertTrue(base.stderr.contains("mAP 95% interval ["), base.stderr)

        // The same model against its own folder: identical detections, so every paired difference is 0.
        let same = try evaluate(mb2, root, try temporaryFolder(), ["--baseline", baseFolder.path])
        XCTAssertExit(same, 0)
        let sameJSON = try object(same)
        XCTAssertEqual(sameJSON["delta_vs_baseline"] as? Double, 0)
        XCTAssertEqual(try interval(sameJSON["delta_ci95"]), [0, 0])
        XCTAssertEqual(sameJSON["delta_significant"] as? Bool, false)
        XCTAssertTrue(same.stderr.contains("not significant (the interval contains 0)"), same.stderr)

        // Another model against the folder, then against the model file (run here into <results>/baseline):
        // the baseline's mAP and interval are the baseline run's own (same images, same seed, same resamples).
        for baseline in [baseFolder.path, mb2.path] {
            let folder = try temporaryFolder()
            let run = try evaluate(Self.vgg, root, folder, ["--baseline", baseline])
            XCTAssertExit(run, 0)
            let json = try object(run)
            let map = try XCTUnwrap(json["mAP"] as? Double)
            let b = try XCTUnwrap(json["baseline"] as? [String: Any])
            XCTAssertEqual(b["mAP"] as? Double, baseMAP, baseline)
            XCTAssertEqual(try interval(b["map_ci95"]), baseCI, baseline)
            XCTAssertEqual(try XCTUnwrap(json["delta_vs_baseline"] as? Double), map - baseMAP, accuracy: 1e-15)
            let delta = try interval(json["delta_ci95"])
            XCTAssertLessThanOrEqual(delta[0], delta[1])
            XCTAssertEqual(json["delta_significant"] as? Bool, !(delta[0] <= 0 && 0 <= delta[1]))
            let ci = try interval(json["map_ci95"])
            XCTAssertLessThanOrEqual(ci[0], ci[1])
            if baseline == mb2.path {
                XCTAssertEqual(b["results"] as? String, folder.appendingPathComponent("baseline").path)
                XCTAssertTrue(FileManager.default.fileExists(
                    atPath: folder.appendingPathComponent("baseline/comp4_det_test_car.txt").path))
            }
        }

        // Folders that do not pair with this run: one line saying why, exit 1, before any image is run.
        let smallFolder = try temporaryFolder()
        XCTAssertExit(try evaluate(mb2, root, smallFolder, split: "small"), 0)
        let swapped = try temporaryFolder().appendingPathComponent("swapped.txt")
        try Data("chair\ncar\n".utf8).write(to: swapped)
        let cases: [([String], String)] = [
            (["--baseline", smallFolder.path], "holds results for split 'small', this run scores 'test'"),
            (["--baseline", baseFolder.path, "--limit", "3"], "covers 6 images, this run 3, not the same image set"),
            (["--baseline", baseFolder.path, "--classes", swapped.path],
             "was scored with the classes car,chair, this run with chair,car"),
            (["--baseline", root.path], "no progress.journal (not a results folder written by mpq evaluate)"),
            (["--baseline", root.appendingPathComponent("nothing").path], "no such results folder or model file"),
        ]
        for (extra, message) in cases {
            let folder = try temporaryFolder()
            let run = try evaluate(Self.vgg, root, folder, extra)
            XCTAssertExit(run, 1, message)
            XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains(message), run.stderr)
            XCTAssertFalse(FileManager.default.fileExists(
                atPath: folder.appendingPathComponent("progress.journal").path), "refused before running")
        }
    }

    func testBootstrapOptions() throws {
        let root = try makeTestDataset(splits: ["test": TestDataset.ids("a") + TestDataset.ids("b")])
        let folder = try temporaryFolder()
        let off = try evaluate(Self.vgg, root, folder, ["--bootstrap", "0"])
        XCTAssertExit(off, 0)
        let offJSON = try object(off)
        XCTAssertNil(offJSON["map_ci95"])
        XCTAssertNil(offJSON["bootstrap"])
        XCTAssertFalse(off.stderr.contains("95%"), off.stderr)
        // evaluate-detections on the folder: the same scores and, with the same seed, the same interval.
        let seeded = try evaluate(Self.vgg, root, folder, ["--bootstrap", "200", "--seed", "7"])
        XCTAssertExit(seeded, 0)
        let scored = try runMPQ(["evaluate-detections", "--voc-root", root.path, "--split", "test", "--results",
                                 folder.path, "--bootstrap", "200", "--seed", "7", "--json", "-"])
        XCTAssertExit(scored, 0)
        XCTAssertEqual(scored.stdout, withoutModelLine(seeded.stdout))
        let json = try object(scored)
        XCTAssertEqual((json["bootstrap"] as? [String: Any])?["seed"] as? Int, 7)
        XCTAssertEqual((json["bootstrap"] as? [String: Any])?["resamples"] as? Int, 200)
        let bad = try runMPQ(["evaluate-detections", "--voc-root", root.path, "--split", "test", "--results",
                              folder.path, "--bootstrap=-5"])
        XCTAssertExit(bad, 64)
        XCTAssertTrue(bad.stderr.contains("--bootstrap takes a number of resamples (0 turns it off), got -5."),
                      bad.stderr)
    }
}
