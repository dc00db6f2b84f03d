import Foundation
import XCTest

/// Every command's `--help`: examples that paste (each line a command or the continuation of one ending in a
/// single backslash, nothing wrapped, no doubled backslash), and `mpq --help` in workflow order.
final class HelpExamplesTests: XCTestCase {
    static let commands = [["demo"], ["quantize"], ["evaluate"], ["compare"], ["sensitivity"], ["detect"],
                           ["evaluate-detections"], ["dataset", "stats"], ["dataset", "check"], ["inspect"], ["export"],
                           ["bench"], ["image-bench"]]

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
        XCTAssertEqual(Array(names.prefix(6)), ["demo", "quantize", "evaluate", "compare", "sensitivity", "detect"])
        XCTAssertTrue(run.stdout.contains("Start with `mpq demo`"), run.stdout)
    }
}
