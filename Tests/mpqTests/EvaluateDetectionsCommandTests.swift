import Foundation
import XCTest

/// `mpq evaluate-detections` run as a subprocess on the real VOC2007 sample (5 images, split "test").
///
/// Ground truth used below (from the sample XML files): 000001 dog (48,240,195,371) and a person;
/// 000002 a train; 000003 a sofa and a chair; 000004 seven cars, the first four (13,311,84,362),
/// (362,330,500,389), (235,328,334,375), (175,327,252,364); 000005 five chairs, two difficult.
final class EvaluateDetectionsCommandTests: XCTestCase {
    private func write(_ text: String, _ name: String, in folder: URL) throws {
        try Data(text.utf8).write(to: folder.appendingPathComponent("comp4_det_test_\(name).txt"))
    }

    let dogLines = "000001 0.9 48 240 195 371\n"
    /// Four exact cars (scores .9 .8 .7 .6) and a false positive at .85 on image 000001.
    let carLines = """
        000004 0.9 13 311 84 362
        000001 0.85 10 10 60 60
        000004 0.8 362 330 500 389
        000004 0.7 235 328 334 375
        000004 0.6 175 327 252 364

        """

    /// A result folder: dog and car as above, empty person/train/sofa files, no chair file.
    private func resultFolder() throws -> URL {
        let folder = try temporaryFolder()
        try write(dogLines, "dog", in: folder)
        try write(carLines, "car", in: folder)
        for name in ["person", "train", "sofa"] { try write("", name, in: folder) }
        return folder
    }

    /// dog: one exact detection -> AP 1 (VOC07 sums 1/11 eleven times: 1 + 2^-52).
    /// car (npos 7): ranked TP FP TP TP TP: precision 1, 1/2, 2/3, 3/4, 4/5; recall 1/7, 1/7, 2/7, 3/7, 4/7.
    ///   VOC07: t = 0, .1 -> 1; t = .2 .. .5 -> 4/5 (recall 2/7 = .286 >= .2, 3/7 = .43 >= .3 and .4, 4/7 >= .5);
    ///   t = .6 .. 1 -> 0. AP = (2 + 4 * 0.8) / 11 = 5.2 / 11.
    ///   VOC10: steps of 1/7 at envelope 1, .8, .8, .8 -> (1 + 2.4) / 7 = 3.4 / 7.
    /// person, train, sofa (empty files) and chair (no file; npos 1 + 3) -> 0. Other 14 classes: npos 0 -> null.
    /// mAP over 6 classes: VOC07 (1 + 5.2/11) / 6; VOC10 (1 + 3.4/7) / 6.
    func testJSONOnVOC2007Sample() throws {
        let folder = try resultFolder()
        for (metric, carAP) in [("voc07", 5.2 / 11), ("voc10", 3.4 / 7)] {
            let run = try runMPQ(["evaluate-detections", "--voc-root", RepositoryFixtures.voc2007.path, "--split", "test",
                                  "--results", folder.path, "--metric", metric, "--json", "-"])
            XCTAssertExit(run, 0)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(Set(json.keys), ["split", "images", "metric", "protocol", "mAP", "classes", "map_ci95",
                                            "bootstrap"])
            XCTAssertEqual(json["split"] as? String, "test")
            XCTAssertEqual(json["images"] as? Int, 5, "the VOC2007 sample's test split")
            XCTAssertEqual(json["metric"] as? String, metric)
            XCTAssertEqual(json["protocol"] as? String, "devkit")
            let classes = try XCTUnwrap(json["classes"] as? [String: [String: Any]])
            XCTAssertEqual(classes.count, 20)
            XCTAssertEqual(classes["dog"]?["ap"] as? Double ?? -1, 1, accuracy: 1e-15)
            XCTAssertEqual(classes["car"]?["ap"] as? Double ?? -1, carAP, accuracy: 1e-12)
            XCTAssertEqual(classes["car"]?["npos"] as? Int, 7)
            XCTAssertEqual(classes["car"]?["detections"] as? Int, 5)
            XCTAssertEqual(classes["chair"]?["npos"] as? Int, 4)
            XCTAssertEqual(classes["chair"]?["ap"] as? Double, 0)
            XCTAssertTrue(classes["cat"]?["ap"] is NSNull, "\(classes["cat"] ?? [:])")
            XCTAssertEqual(json["mAP"] as? Double ?? -1, (1 + carAP) / 6, accuracy: 1e-12)
            XCTAssertTrue(run.stderr.contains("no result file for aeroplane"), run.stderr)
            XCTAssertTrue(run.stderr.contains("chair"), run.stderr)
            XCTAssertTrue(run.stderr.contains("mAP"), "the table goes to stderr with --json -")
        }
    }

    func testTablePrintsNotApplicable() throws {
        let run = try runMPQ(["evaluate-detections", "--voc-root", RepositoryFixtures.voc2007.path, "--split", "test",
                              "--results", try resultFolder().path])
        XCTAssertExit(run, 0)
        XCTAssertTrue(run.stdoutLines.contains { $0.hasPrefix("cat") && $0.contains("n/a") }, run.stdout)
        XCTAssertTrue(run.stdoutLines.contains { $0.hasPrefix("car") && $0.contains("0.4727") }, run.stdout)
        XCTAssertTrue(run.stdoutLines.contains { $0.hasPrefix("mAP") && $0.contains("0.2455") }, run.stdout)
    }

    /// The same detections split over two folders by image (as two shards would write them) give the same JSON;
    /// two folders holding the same image are refused.
    func testMergedFoldersMatchOneFolder() throws {
        let a = try temporaryFolder(), b = try temporaryFolder()
        try write(dogLines, "dog", in: a)
        try write("000001 0.85 10 10 60 60\n", "car", in: a)
        try write(carLines.split(separator: "\n").filter { $0.hasPrefix("000004") }.joined(separator: "\n") + "\n",
                  "car", in: b)
        let args = ["evaluate-detections", "--voc-root", RepositoryFixtures.voc2007.path, "--split", "test", "--json", "-"]
        let one = try runMPQ(args + ["--results", try resultFolder().path])
        let merged = try runMPQ(args + ["--results", b.path, "--results", a.path])
        XCTAssertExit(merged, 0)
        XCTAssertEqual(merged.stdout, one.stdout)
        let overlap = try runMPQ(args + ["--results", a.path, "--results", try resultFolder().path])
        XCTAssertExit(overlap, 1)
        XCTAssertTrue(overlap.stderr.contains("the result folders overlap"), overlap.stderr)
    }

    func testBadLineNamesFileAndLine() throws {
        let folder = try resultFolder()
        try write("000001 0.9 48 240 195 371\n000003 0.5 1 2 3\n", "dog", in: folder)
        let run = try runMPQ(["evaluate-detections", "--voc-root", RepositoryFixtures.voc2007.path, "--split", "test",
                              "--results", folder.path])
        XCTAssertExit(run, 1)
        XCTAssertTrue(run.stderr.contains("comp4_det_test_dog.txt:2: expected 6 fields"), run.stderr)
        try write("000009 0.9 48 240 195 371\n", "dog", in: folder)
        let unknown = try runMPQ(["evaluate-detections", "--voc-root", RepositoryFixtures.voc2007.path, "--split", "test",
                                  "--results", folder.path])
        XCTAssertExit(unknown, 1)
        XCTAssertTrue(unknown.stderr.contains("comp4_det_test_dog.txt:1: image id '000009' is not in"), unknown.stderr)
    }

    func testMissingResultsOptionIsAUsageError() throws {
        let run = try runMPQ(["evaluate-detections", "--voc-root", RepositoryFixtures.voc2007.path, "--split", "test"])
        XCTAssertEqual(run.reason, .exit)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("--results"), run.stderr)
    }
}

extension EvaluateDetectionsCommandTests {
    /// The help names every option with a sentence and shows runnable examples.
    func testHelp() throws {
        let run = try runMPQ(["evaluate-detections", "--help"])
        XCTAssertExit(run, 0)
        for fragment in ["--voc-root <dir>", "--split <name>", "--results <dir>", "--metric <metric>",
                         "--protocol <protocol>", "--classes <file>", "--json <file>", "Examples:",
                         "mpq evaluate-detections --voc-root VOCdevkit/VOC2007 --split test \\\n      --results results/\n"] {
            XCTAssertTrue(run.stdout.contains(fragment), "missing \(fragment) in\n\(run.stdout)")
        }
    }
}
