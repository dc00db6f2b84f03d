import Foundation
import XCTest

/// Every command's `--help`: examples that paste (each line a command or the continuation of one ending in a
/// single backslash, nothing wrapped, no doubled backslash), and `mpq --help` in workflow order.
final class HelpExamplesTests: XCTestCase {
    static let commands = [["demo"], ["quantize"], ["evaluate"], ["compare"], ["sensitivity"], ["diagnose"], ["detect"],
                           ["evaluate-detections"], ["merge"], ["dataset", "stats"], ["dataset", "check"], ["inspect"],
                           ["export"], ["bench"], ["image-bench"]]

    func testExamplesPaste() throws {
        for command in Self.commands {
            let run = try runMPQ(command + ["--help"])
            XCTAssertExit(run, 0)
            let lines = run.stdout.components(separatedBy: "\n")
            let name = command.joined(separator: " ")
            XCTAssertFalse(run.stdout.contains("\\\\"), "\(name): a doubled backslash")
            guard let start = lines.firstIndex(of: "Examples:") else {
                XCTFail("\(name): no examples")
                continue
            }
            var previous = ""
            var count = 0
            for line in lines[(start + 1)...] {
                if line.isEmpty { break }
                XCTAssertTrue(line.hasPrefix("  mpq \(name)") || (previous.hasSuffix(" \\") && line.hasPrefix("      ")),
                              "\(name): '\(line)' is neither a command nor a continuation")
                XCTAssertLessThanOrEqual(line.count, 80, "\(name): '\(line)' wraps")
                if line.hasPrefix("  mpq ") { count += 1 }
                previous = line
            }
            XCTAssertGreaterThanOrEqual(count, 2, "\(name): at least two examples")
        }
    }

    func testTopLevelHelpListsCommandsInWorkflowOrder() throws {
        let run = try runMPQ(["--help"])
        XCTAssertExit(run, 0)
        let names = run.stdout.components(separatedBy: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let first = line.split(separator: " ").first,
                  !first.hasPrefix("-"), !first.hasPrefix("mpq") else { return nil }
            return String(first)
        }
        XCTAssertEqual(Array(names.prefix(7)), ["demo", "quantize", "evaluate", "compare", "sensitivity", "diagnose",
                                              "detect"])
        XCTAssertTrue(run.stdout.contains("Start with `mpq demo`"), run.stdout)
    }
}

/// `--help` of every command against its committed snapshot (`Tests/mpqTests/Fixtures/help/`), so that a changed
/// flag, default or example shows up in review. After an intended change: `MPQ_UPDATE_HELP=1 swift test --filter
/// HelpSnapshotTests`, then read the diff.
final class HelpSnapshotTests: XCTestCase {
    func testHelpMatchesSnapshots() throws {
        let update = ProcessInfo.processInfo.environment["MPQ_UPDATE_HELP"] == "1"
        // The source tree's fixtures folder (written to on update, so not the copied test bundle).
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/help")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for command in [[]] + HelpExamplesTests.commands {
            let run = try runMPQ(command + ["--help"])
            XCTAssertExit(run, 0)
            let file = folder.appendingPathComponent((command.isEmpty ? "mpq" : command.joined(separator: "-")) + ".txt")
            if update {
                try Data(run.stdout.utf8).write(to: file)
                continue
            }
            let expected = try String(contentsOf: file, encoding: .utf8)
            XCTAssertEqual(run.stdout, expected, "mpq \(command.joined(separator: " ")) --help changed; if intended, "
                           + "regenerate with MPQ_UPDATE_HELP=1 swift test --filter HelpSnapshotTests")
        }
    }
}
