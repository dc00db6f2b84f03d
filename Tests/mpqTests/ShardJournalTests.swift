import Foundation
import XCTest
import Quantization
import Evaluation
import VOC
@testable import mpq
@testable import Workflows

/// The unit journal of sharded sensitivity / compare runs and `mpq merge`'s checks, on journals written here
/// (no model): round-robin shard arithmetic, durability and torn lines, refusals with their reasons.
final class ShardJournalTests: XCTestCase {
    private func header(run: String = "model=/m.pth size=10", shard: String = "0/1", units: Int = 6,
                        bits: String = "2, 4") -> ShardRunHeader {
        ShardRunHeader(kind: "sensitivity", run: run, settings: [["model", "/m.pth"], ["bits", bits]],
                       shard: shard, units: units)
    }

    /// A sensitivity unit record: layer l (names "conv<l>"), the k-th of bits [2, 4].
    private func record(_ unit: Int, fp: Double = 0.75) -> ShardUnitRecord {
        let l = unit / 2, b = [2, 4][unit % 2]
        let map = 0.5 + 0.01 * Double(unit)
        return ShardUnitRecord(unit: unit, seconds: 0.25, fields: [
            "conv\(l)", "\(100 + l)", "\(1000 * (l + 1))", "\(b)", "\(map)", "\(fp - map)",
            unit == 5 ? "inf" : "\(20.5 + Double(unit))", "\(fp)",
        ])
    }

    func testShardsAreRoundRobinAndCoverEveryUnitOnce() throws {
        XCTAssertEqual(UnitShard.units(try UnitShard.parse("1/4"), of: 10), [1, 5, 9])
        XCTAssertEqual(UnitShard.units(try UnitShard.parse("0/4"), of: 10), [0, 4, 8])
        XCTAssertEqual(UnitShard.units(try UnitShard.parse(nil), of: 3), [0, 1, 2])
        XCTAssertEqual(UnitShard.units(try UnitShard.parse("5/6"), of: 3), [], "more shards than units: some are empty")
        for n in 1...7 {
            let all = (0..<n).flatMap { UnitShard.units(Shard("\($0)/\(n)")!, of: 17) }
            XCTAssertEqual(all.sorted(), Array(0..<17), "N = \(n)")
            let sizes = (0..<n).map { UnitShard.units(Shard("\($0)/\(n)")!, of: 17).count }
            XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "shards of equal size, N = \(n)")
        }
        for bad in ["4/4", "-1/2", "a/b", "1/0", "1", "0/2/3"] {
            XCTAssertThrowsError(try UnitShard.parse(bad), bad)
        }
    }

    func testJournalKeepsUnitsAcrossReopenAndDropsATornLine() throws {
        let folder = try temporaryFolder()
        do {
            let journal = try ShardJournal(folder: folder, header: header())
            try journal.append(record(0))
            try journal.append(record(3))
        }
        // A kill in the middle of writing unit 4: half a line at the end.
        let url = folder.appendingPathComponent(ShardJournal.fileName)
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("4 0.5 conv2 10".utf8))
        try handle.close()
        let sizeWithTorn = try Data(contentsOf: url).count

        let reopened = try ShardJournal(folder: folder, header: header())
        XCTAssertEqual(reopened.finished.keys.sorted(), [0, 3])
        XCTAssertEqual(reopened.finished[3], record(3), "fields and seconds round-trip")
        XCTAssertEqual(try Data(contentsOf: url).count, sizeWithTorn - 14, "the torn line is cut from the file")
        try reopened.append(record(4))
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(text.split(separator: "\n").count, 4, text)
        let map4 = 0.5 + 0.01 * 4
        XCTAssertTrue(text.hasSuffix("\n4 0.25 conv2 102 3000 2 \(map4) \(0.75 - map4) 24.5 0.75\n"), text)
        XCTAssertEqual(try ShardJournal.read(url).records.keys.sorted(), [0, 3, 4])
    }

    func testJournalOfAnotherRunOrShardIsRefusedWithTheReason() throws {
        let folder = try temporaryFolder()
        _ = try ShardJournal(folder: folder, header: header(shard: "1/4"))
        func message(_ h: ShardRunHeader) -> String {
            do { _ = try ShardJournal(folder: folder, header: h); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(header(run: "model=/other.pth size=10", shard: "1/4"))
            .contains("it belongs to another run (model=/m.pth size=10 there, model=/other.pth size=10 here)"))
        XCTAssertTrue(message(header(shard: "2/4")).contains("belongs to shard 1/4 of this run, this is shard 2/4"))
        XCTAssertTrue(message(header(shard: "1/4", bits: "2, 8"))
            .contains("it belongs to another run (bits '2, 4' there, '2, 8' here). Use another folder"))
        let compare = ShardRunHeader(kind: "compare", run: "x", settings: [], shard: "1/4", units: 6)
        XCTAssertTrue(message(compare).contains("it holds a sensitivity journal, this is a compare run"))
        XCTAssertTrue(message(header()).hasPrefix(folder.appendingPathComponent(ShardJournal.fileName).path + ": "))
    }

    func testMalformedRecordsNameFileAndLine() throws {
        let folder = try temporaryFolder()
        let url = folder.appendingPathComponent(ShardJournal.fileName)
        let head = ShardJournal.magic + header().line + "\n"
        for (body, problem) in [("0 0.1 a\nx 0.1 b\n", ":3: malformed unit record"),
                                ("6 0.1 a\n", ":2: malformed unit record"),      // unit outside 0..<6
                                ("1 0.1 a\n1 0.2 a\n", ":3: unit 1 recorded twice")] {
            try Data((head + body).utf8).write(to: url)
            XCTAssertThrowsError(try ShardJournal(folder: folder, header: header())) { error in
                XCTAssertEqual("\(error)", url.path + problem)
            }
        }
        try Data("# something else\n".utf8).write(to: url)
        XCTAssertThrowsError(try ShardJournal.read(url)) { XCTAssertEqual("\($0)", url.path + ":1: not an mpq unit journal") }
    }

    /// Three shards of six units; the merged units are the shards' records in unit order, and the sensitivity
    /// report built from them has each layer's results in --bits order.
    private func shards(_ count: Int, skip: Int? = nil) throws -> [URL] {
        try (0..<count).map { i in
            let folder = try temporaryFolder()
            let journal = try ShardJournal(folder: folder, header: header(shard: "\(i)/\(count)"))
            for u in UnitShard.units(Shard("\(i)/\(count)")!, of: 6) where u != skip { try journal.append(record(u)) }
            return folder
        }
    }

    func testMergedUnitsMakeTheReportInLayerAndBitsOrder() throws {
        let folders = try shards(3)
        let merged = try MergedUnits.load(folders.reversed())
        XCTAssertEqual(merged.records.map(\.unit), Array(0..<6))
        XCTAssertEqual(merged.records, (0..<6).map { record($0) })
        XCTAssertEqual(merged.shardCount, 3)
        XCTAssertEqual(merged.totalSeconds, 1.5)
        XCTAssertEqual(merged.longestShardSeconds, 0.5)
        let report = try SensitivityShards.report(merged)
        XCTAssertEqual(report.mapFP32, 0.75)
        XCTAssertEqual(report.layers.map(\.name), ["conv0", "conv1", "conv2"])
        XCTAssertEqual(report.layers[1].params, 101)
        XCTAssertEqual(report.layers[1].macs, 2000)
        XCTAssertEqual(report.layers[1].results, [
            SensitivityResult(bits: 2, map: 0.5 + 0.01 * 2, mapDrop: 0.75 - (0.5 + 0.01 * 2), sqnrDB: 22.5),
            SensitivityResult(bits: 4, map: 0.5 + 0.01 * 3, mapDrop: 0.75 - (0.5 + 0.01 * 3), sqnrDB: 23.5),
        ])
        XCTAssertNil(report.layers[2].results[1].sqnrDB, "inf is an unchanged output")
        // One folder holding every unit is the one-process case: the same report.
        let one = try temporaryFolder()
        let journal = try ShardJournal(folder: one, header: header())
        for u in [0, 1, 2, 3, 4, 5] { try journal.append(record(u)) }
        XCTAssertEqual(try SensitivityShards.report(MergedUnits.load([one])), report)
    }

    func testMergeRefusesOtherRunsDuplicatesAndMissingUnits() throws {
        let folders = try shards(2)
        func message(_ f: [URL]) -> String {
            do { _ = try MergedUnits.load(f); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message([folders[0], folders[0]]).contains("unit 0 is also in \(folders[0].path): duplicate units"))
        let missing = message([folders[0]])
        XCTAssertTrue(missing.hasSuffix("3 of 6 units missing (1, 3, 5): a shard is unfinished or not given"), missing)
        let unfinished = try shards(2, skip: 5)
        XCTAssertTrue(message(unfinished).contains("1 of 6 units missing (5)"))

        let other = try temporaryFolder()
        let journal = try ShardJournal(folder: other, header: header(run: "model=/other.pth size=10", shard: "1/2"))
        for u in [1, 3, 5] { try journal.append(record(u)) }
        XCTAssertTrue(message([folders[0], other]).contains("shards of different runs cannot be merged"))

        let compare = try temporaryFolder()
        _ = try ShardJournal(folder: compare, header: ShardRunHeader(kind: "compare", run: "model=/m.pth size=10",
                                                                      settings: [], shard: "1/2", units: 6))
        XCTAssertTrue(message([folders[0], compare]).contains("shards of different jobs"))

        let empty = try temporaryFolder()
        XCTAssertTrue(message([folders[0], empty]).contains("\(empty.path): no units.journal"))

        let badFP = try temporaryFolder()
        let j = try ShardJournal(folder: badFP, header: header(shard: "1/2"))
        for u in [1, 3, 5] { try j.append(record(u, fp: 0.7)) }
        XCTAssertThrowsError(try SensitivityShards.report(MergedUnits.load([folders[0], badFP]))) {
            XCTAssertTrue("\($0)".contains("float mAP 0.7 differs from 0.75"), "\($0)")
        }
    }
}
