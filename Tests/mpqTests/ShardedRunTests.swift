import Foundation
import XCTest

/// `mpq sensitivity --shard`, `mpq compare --shard` and `mpq merge` end to end on the small parity checkpoint:
/// N shards merged give the bytes one process writes, an interrupted run resumes per unit, bad merges are refused.
final class ShardedRunTests: XCTestCase {
    private let sensitivityOptions = ["--bits", "2,8", "--limit", "1", "--calib-images", "1", "--threads", "1"]

    private func sensitivity(_ root: URL, _ report: URL, _ extra: [String] = []) throws -> MPQRun {
        try runMPQ(["sensitivity", "--model", TestDataset.checkpoint.path, "--voc-root", root.path,
                    "--report", report.path] + sensitivityOptions + extra, timeout: 600)
    }

    private func compare(_ root: URL, _ report: URL, _ extra: [String] = []) throws -> MPQRun {
        try runMPQ(["compare", "--model", TestDataset.checkpoint.path, "--voc-root", root.path, "--threads", "1",
                    "--methods", "rtn,mse", "--avg-bits", "4,8", "--calib-images", "1", "--limit", "2",
                    "--report", report.path] + extra, timeout: 600)
    }

    private func merge(_ out: URL, _ shards: [URL]) throws -> MPQRun {
        try runMPQ(["merge", "--threads", "1", "--out", out.path] + shards.map(\.path), timeout: 300)
    }

    private func bytes(_ folder: URL, _ file: String) throws -> Data {
        try Data(contentsOf: folder.appendingPathComponent(file))
    }

    /// The file with the run's own times blanked: the wall time line (Markdown and HTML, with the cell's class,
    /// which follows its text: "12.3 s" is numeric, "merged from 3 shards: ..." is not) and compare's seconds
    /// (JSON field, the table's time column).
    static func withoutTimes(_ data: Data) -> String {
        var text = String(decoding: data, as: UTF8.self)
        for (pattern, template) in [("wall time</td><td[^>]*>[^<]*", "wall time</td><td>"), ("(?m)^(- wall time: ).*$", "$1"),
                                    ("\"seconds\" : [0-9.e+-]+", "\"seconds\" : 0"),
                                    ("\\| [0-9]+\\.[0-9] \\| (\\[|-)", "| 0 | $1"),
                                    ("(<td>[0-9]+</td>)<td>[0-9]+\\.[0-9]</td>", "$1<td>0</td>")] {
            let regex = try! NSRegularExpression(pattern: pattern)
            text = regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text),
                                                  withTemplate: template)
        }
        return text
    }

    func testShardedSensitivityMergesToTheOneProcessReportAndResumes() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let one = try temporaryFolder()
        XCTAssertExit(try sensitivity(root, one), 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes(one, "sensitivity.json")) as? [String: Any])
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertGreaterThan(layers.count, 10)
        XCTAssertTrue(validMAP.contains(try XCTUnwrap(json["map_fp32"] as? Double)))
        let journal = try String(contentsOf: one.appendingPathComponent("units.journal"), encoding: .utf8)
        let units = layers.count * 2
        XCTAssertEqual(journal.split(separator: "\n").count, 1 + units, "a header and one line per (layer, bits)")

        // Three shards in three folders, merged in another order.
        let shards = try (0..<3).map { _ in try temporaryFolder() }
        for (i, folder) in shards.enumerated() {
            let run = try sensitivity(root, folder, ["--shard", "\(i)/3"])
            XCTAssertExit(run, 0)
            XCTAssertTrue(run.stdout.contains("combine the shards with mpq merge"), run.stdout)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("sensitivity.json").path),
                           "a shard writes only its units")
            let count = try String(contentsOf: folder.appendingPathComponent("units.journal"), encoding: .utf8)
                .split(separator: "\n").count - 1
            XCTAssertEqual(count, (units - i + 2) / 3, "shard \(i)/3 runs units i, i+3, ...")
        }
        let merged = try temporaryFolder()
        let run = try merge(merged, [shards[2], shards[0], shards[1]])
        XCTAssertExit(run, 0)
        XCTAssertTrue(run.stdout.contains("merge: \(units) units from 3 shard folders"), run.stdout)
        for file in ["sensitivity.json", "sensitivity.csv", "sensitivity_map_drop.svg", "sensitivity_heatmap.svg"] {
            XCTAssertEqual(try bytes(merged, file), try bytes(one, file), "\(file): merged = one process, byte for byte")
        }
        for file in ["sensitivity.md", "report.html"] {
            XCTAssertEqual(Self.withoutTimes(try bytes(merged, file)), Self.withoutTimes(try bytes(one, file)), file)
        }
        XCTAssertTrue(String(decoding: try bytes(merged, "sensitivity.md"), as: UTF8.self)
            .contains("- wall time: merged from 3 shards: "))

        // Refused merges: a shard missing, a shard twice.
        let missing = try merge(try temporaryFolder(), [shards[0], shards[2]])
        XCTAssertExit(missing, 1)
        XCTAssertTrue(missing.stderr.contains("units missing"), missing.stderr)
        let twice = try merge(try temporaryFolder(), shards + [shards[1]])
        XCTAssertExit(twice, 1)
        XCTAssertTrue(twice.stderr.contains("is also in \(shards[1].path): duplicate units"), twice.stderr)

        // Killed during a unit: the journal holds three units and half a line. The same command runs only the
        // missing units and writes the same bytes.
        let resumed = try temporaryFolder()
        let lines = journal.split(separator: "\n", omittingEmptySubsequences: false)
        let torn = lines.prefix(4).joined(separator: "\n") + "\n" + lines[4].prefix(9)
        try Data(torn.utf8).write(to: resumed.appendingPathComponent("units.journal"))
        let again = try sensitivity(root, resumed)
        XCTAssertExit(again, 0)
        XCTAssertTrue(again.stderr.contains("shard 0/1: \(units) of \(units) units (layers x bit widths), 3 already in"),
                      again.stderr)
        for file in ["sensitivity.json", "sensitivity.csv", "sensitivity_map_drop.svg", "sensitivity_heatmap.svg"] {
            XCTAssertEqual(try bytes(resumed, file), try bytes(one, file), "\(file) after resuming")
        }
        XCTAssertEqual(try String(contentsOf: resumed.appendingPathComponent("units.journal"), encoding: .utf8)
            .split(separator: "\n").count, 1 + units)

        // The same folder with other settings is refused, not mixed.
        let other = try runMPQ(["sensitivity", "--model", TestDataset.checkpoint.path, "--voc-root", root.path,
                                "--report", resumed.path, "--bits", "3", "--limit", "1", "--calib-images", "1",
                                "--threads", "1"], timeout: 600)
        XCTAssertExit(other, 1)
        XCTAssertTrue(other.stderrLines.last?.contains("units.journal: it belongs to another run") ?? false, other.stderr)
    }

    /// compare with the DFQ steps: the journal keeps the row names (rtn+cle+bc) and the steps, so the merged report of
    /// two shards names and pairs the rows as one process does.
    func testShardedCompareWithDFQStepsKeepsRowNames() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let extra = ["--cle", "--bias-correction"]
        let one = try temporaryFolder()
        XCTAssertExit(try compare(root, one, extra), 0)
        let shards = try (0..<2).map { _ in try temporaryFolder() }
        for (i, folder) in shards.enumerated() {
            XCTAssertExit(try compare(root, folder, extra + ["--shard", "\(i)/2"]), 0)
        }
        let merged = try temporaryFolder()
        XCTAssertExit(try merge(merged, shards), 0)
        for file in ["compare.json", "compare.md", "compare.html"] {
            XCTAssertEqual(Self.withoutTimes(try bytes(merged, file)), Self.withoutTimes(try bytes(one, file)), file)
        }
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes(merged, "compare.json")) as? [String: Any])
        let rows = try XCTUnwrap(summary["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.compactMap { $0["method"] as? String }, ["fp32", "rtn+cle+bc", "mse+cle+bc",
                                                                     "rtn+cle+bc", "mse+cle+bc"])
        XCTAssertNotNil(rows[2]["delta_vs_rtn"], "mse+cle+bc is paired with the rtn row that has the same steps")
    }

    func testShardedCompareMergesToTheOneProcessReport() throws {
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let one = try temporaryFolder()
        XCTAssertExit(try compare(root, one), 0)
        let shards = try (0..<2).map { _ in try temporaryFolder() }
        for (i, folder) in shards.enumerated() {
            let run = try compare(root, folder, ["--shard", "\(i)/2"])
            XCTAssertExit(run, 0)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("compare.json").path))
        }
        // Units fp32, rtn@4, mse@4, rtn@8, mse@8: shard 0 ran 0, 2, 4.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: shards[0].appendingPathComponent("runs").path)
            .sorted(), ["fp32", "mse-4.0", "mse-8.0"])
        let merged = try temporaryFolder()
        XCTAssertExit(try merge(merged, shards.reversed()), 0)
        XCTAssertEqual(try bytes(merged, "compare.svg"), try bytes(one, "compare.svg"), "compare.svg byte for byte")
        for file in ["compare.json", "compare.md", "compare.html"] {
            XCTAssertEqual(Self.withoutTimes(try bytes(merged, file)), Self.withoutTimes(try bytes(one, file)), file)
        }
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes(merged, "compare.json")) as? [String: Any])
        let rows = try XCTUnwrap(summary["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.compactMap { $0["method"] as? String }, ["fp32", "rtn", "mse", "rtn", "mse"])
        XCTAssertNotNil(rows[2]["delta_vs_rtn_ci95"], "the bootstrap ran over every unit's detections")

        // A sensitivity shard is not a compare shard.
        let sens = try temporaryFolder()
        XCTAssertExit(try sensitivity(root, sens, ["--shard", "0/9"]), 0)
        let mixed = try merge(try temporaryFolder(), [shards[0], sens])
        XCTAssertExit(mixed, 1)
        XCTAssertTrue(mixed.stderr.contains("shards of different jobs"), mixed.stderr)
    }
}
