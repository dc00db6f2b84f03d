import Foundation
import XCTest

/// `mpq dataset stats|check` run as a subprocess on the real VOC samples and on broken files.
final class DatasetCommandTests: XCTestCase {
    /// A one-image dataset (id `x`) whose annotation is `annotation` and whose image is the real 000001.jpg.
    private func singleImageDataset(annotation: URL) throws -> URL {
        let root = try temporaryFolder()
        let manager = FileManager.default
        for folder in ["Annotations", "ImageSets/Main", "JPEGImages"] {
            try manager.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try manager.copyItem(at: annotation, to: root.appendingPathComponent("Annotations/x.xml"))
        try manager.copyItem(at: RepositoryFixtures.voc2007.appendingPathComponent("JPEGImages/000001.jpg"),
                             to: root.appendingPathComponent("JPEGImages/x.jpg"))
        try Data("x\n".utf8).write(to: root.appendingPathComponent("ImageSets/Main/s.txt"))
        return root
    }

    /// Expected counts from the five VOC2007 sample XML files (split test = 000001...000005):
    /// 000001: dog, person | 000002: train | 000003: sofa, chair | 000004: 7 x car | 000005: 5 x chair, 2 difficult.
    /// images 5; objects 2 + 1 + 2 + 7 + 5 = 17; difficult 2 (both chairs of 000005);
    /// chair: images 2 (000003, 000005), objects 1 + 5 = 6; car: 1 image, 7 objects; dog/person/train/sofa 1/1/0.
    func testStatsJSONOnVOC2007Sample() throws {
        let run = try runMPQ(["dataset", "stats", "--voc-root", RepositoryFixtures.voc2007.path, "--split", "test",
                              "--json", "-"])
        XCTAssertExit(run, 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["images"] as? Int, 5)
        XCTAssertEqual(json["objects"] as? Int, 17)
        let classes = try XCTUnwrap(json["classes"] as? [String: [String: Int]])
        XCTAssertEqual(classes.count, 20)
        let expected: [String: [String: Int]] = [
            "car": ["images": 1, "objects": 7, "difficult": 0],
            "chair": ["images": 2, "objects": 6, "difficult": 2],
            "dog": ["images": 1, "objects": 1, "difficult": 0],
            "person": ["images": 1, "objects": 1, "difficult": 0],
            "sofa": ["images": 1, "objects": 1, "difficult": 0],
            "train": ["images": 1, "objects": 1, "difficult": 0],
        ]
        for (name, counts) in classes {
            XCTAssertEqual(counts, expected[name] ?? ["images": 0, "objects": 0, "difficult": 0], name)
        }
        XCTAssertEqual(json["image_size"] as? [String: Int],
                       ["min_width": 335, "max_width": 500, "min_height": 375, "max_height": 500])
        // The table went to stderr so stdout stays pure JSON.
        XCTAssertTrue(run.stderr.contains("chair"), run.stderr)
    }

    func testStatsTableAndJSONFile() throws {
        let out = try temporaryFolder().appendingPathComponent("nested/stats.json")
        let run = try runMPQ(["dataset", "stats", "--voc-root", RepositoryFixtures.voc2012.path, "--split", "trainval",
                              "--json", out.path])
        XCTAssertExit(run, 0)
        // VOC2012 sample: 027 person | 032 2 aeroplane, 2 person | 033 3 aeroplane | 039 tvmonitor | 042 2 train
        // objects = 1 + 4 + 3 + 1 + 2 = 11; person images 2 objects 3; aeroplane images 2 objects 5.
        XCTAssertTrue(run.stdoutLines.contains { $0.hasPrefix("person ") && $0.hasSuffix("2         3          0") },
                      run.stdout)
        XCTAssertTrue(run.stdoutLines.contains { $0.hasPrefix("total") && $0.hasSuffix("5        11          0") },
                      run.stdout)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        XCTAssertEqual(json["objects"] as? Int, 11)
        XCTAssertEqual((json["classes"] as? [String: [String: Int]])?["aeroplane"],
                       ["images": 2, "objects": 5, "difficult": 0])
    }

    /// --classes dog,chair on the VOC2007 sample: known objects dog 1 + chair 6 = 7; the other 10 objects
    /// (car 7, person 1, sofa 1, train 1) are counted under unknown_classes and named in a note.
    func testStatsWithACustomClassList() throws {
        let classes = try temporaryFolder().appendingPathComponent("names.txt")
        try Data("# two classes\ndog\nchair\n".utf8).write(to: classes)
        let run = try runMPQ(["dataset", "stats", "--voc-root", RepositoryFixtures.voc2007.path, "--split", "test",
                              "--classes", classes.path, "--json", "-"])
        XCTAssertExit(run, 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["objects"] as? Int, 7)
        XCTAssertEqual((json["classes"] as? [String: Any])?.count, 2)
        XCTAssertEqual((json["unknown_classes"] as? [String: [String: Int]])?["car"],
                       ["images": 1, "objects": 7, "difficult": 0])
        XCTAssertTrue(run.stderr.contains("note: 10 object(s) of classes not in the class list \(classes.path)"),
                      run.stderr)
        XCTAssertTrue(run.stderr.contains("car (7), person (1), sofa (1), train (1)"), run.stderr)
    }

    func testCheckNamesTheTruncatedJPEGAndExitsOne() throws {
        let run = try runMPQ(["dataset", "check", "--voc-root", RepositoryFixtures.voc2012.path, "--split", "trainval",
                              "--threads", "2"])
        XCTAssertExit(run, 1)
        XCTAssertEqual(run.stdoutLines.count, 1, run.stdout)
        XCTAssertTrue(run.stdout.contains("JPEGImages/2007_000027.jpg: truncated or damaged JPEG"), run.stdout)
        XCTAssertTrue(run.stderr.contains("1 problem(s) in 1 file(s)"), run.stderr)
    }

    func testCheckCleanDatasetExitsZero() throws {
        let run = try runMPQ(["dataset", "check", "--voc-root", RepositoryFixtures.voc2007.path, "--split", "test"])
        XCTAssertExit(run, 0)
        XCTAssertEqual(run.stdout, "")
    }

    /// Each broken annotation: `stats` prints exactly one line naming the file and exits 1 (no signal, no hang).
    func testBadAnnotationsGiveOneClearLine() throws {
        let cases: [(file: String, expected: String)] = [
            ("empty.xml", "empty file (0 bytes)"),
            ("unclosed-tag.xml", "x.xml:17: malformed XML"),
            ("truncated.xml", "malformed XML"),
            ("missing-bndbox.xml", "x.xml:22: <object> 2 (person) has no <bndbox>"),
            ("letters-in-coordinate.xml", "x.xml:16: <bndbox> of <object> 1 (dog): <xmin> is '4a8', expected a number"),
            ("xmin-greater-than-xmax.xml", "x.xml:15: <bndbox> of <object> 1 (dog): xmin 250 > xmax 195"),
            ("xxe-local-file.xml", "x.xml:3: refused: the file contains an entity declaration"),
            ("billion-laughs.xml", "x.xml:3: refused: the file contains an entity declaration"),
        ]
        for (file, expected) in cases {
            let root = try singleImageDataset(annotation: RepositoryFixtures.badXML.appendingPathComponent(file))
            let run = try runMPQ(["dataset", "stats", "--voc-root", root.path, "--split", "s"], timeout: 60)
            XCTAssertExit(run, 1, file)
            XCTAssertEqual(run.stderrLines.count, 1, "\(file): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(root.path + "/Annotations/" + expected) || run.stderr.contains(expected),
                          "\(file): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains("Annotations/x.xml"), "\(file): \(run.stderr)")
            XCTAssertFalse(run.stderr.contains("root:x:0"), "passwd content leaked")
        }
    }

    /// `check` on a dataset mixing bad files lists each of them and does not stop at the first.
    func testCheckListsEveryBadFile() throws {
        let root = try temporaryFolder()
        let manager = FileManager.default
        for folder in ["Annotations", "ImageSets/Main", "JPEGImages"] {
            try manager.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let names = ["empty", "unknown-class", "billion-laughs", "letters-in-coordinate"]
        for name in names {
            try manager.copyItem(at: RepositoryFixtures.badXML.appendingPathComponent(name + ".xml"),
                                 to: root.appendingPathComponent("Annotations/\(name).xml"))
            try manager.copyItem(at: RepositoryFixtures.voc2007.appendingPathComponent("JPEGImages/000001.jpg"),
                                 to: root.appendingPathComponent("JPEGImages/\(name).jpg"))
        }
        try Data(names.joined(separator: "\n").utf8).write(to: root.appendingPathComponent("ImageSets/Main/all.txt"))
        let run = try runMPQ(["dataset", "check", "--voc-root", root.path, "--split", "all"])
        XCTAssertExit(run, 1)
        XCTAssertEqual(run.stdoutLines.count, 4, run.stdout)
        for (line, name) in zip(run.stdoutLines, names) {
            XCTAssertTrue(line.hasPrefix(root.path + "/Annotations/\(name).xml"), line)
        }
        XCTAssertTrue(run.stdoutLines[1].contains("unknown class 'unicorn'"), run.stdoutLines[1])
    }

    func testUserErrorsExitNormally() throws {
        let missingSplit = try runMPQ(["dataset", "stats", "--voc-root", RepositoryFixtures.voc2007.path,
                                       "--split", "val"])
        XCTAssertExit(missingSplit, 1)
        XCTAssertEqual(missingSplit.stderrLines.count, 1)
        XCTAssertTrue(missingSplit.stderr.contains("split 'val' not found; splits present: test, trainval"))

        let classesFile = try temporaryFolder().appendingPathComponent("classes.txt")
        try Data("dog\ncat\ndog\n".utf8).write(to: classesFile)
        let duplicate = try runMPQ(["dataset", "check", "--voc-root", RepositoryFixtures.voc2007.path,
                                    "--split", "test", "--classes", classesFile.path])
        XCTAssertExit(duplicate, 1)
        XCTAssertTrue(duplicate.stderr.contains("\(classesFile.path):3: duplicate class 'dog' (first on line 1)"))

        // ArgumentParser's validation failures exit with EX_USAGE (64): still a normal exit with a message.
        let badThreads = try runMPQ(["dataset", "stats", "--voc-root", ".", "--split", "test", "--threads", "0"])
        XCTAssertExit(badThreads, 64)
        XCTAssertTrue(badThreads.stderr.contains("--threads must be at least 1"), badThreads.stderr)
    }

    func testHelpShowsExamples() throws {
        for command in [["dataset"], ["dataset", "stats"], ["dataset", "check"]] {
            let run = try runMPQ(command + ["--help"])
            XCTAssertExit(run, 0, command.joined(separator: " "))
            XCTAssertTrue(run.stdout.contains("Examples:"), run.stdout)
            XCTAssertTrue(run.stdout.contains("mpq dataset"), run.stdout)
        }
    }
}
