import Foundation
import XCTest
@testable import mpq

/// `Scripts/k8s/*.yaml` without a cluster: each Indexed Job's shard count agrees with its completions and
/// parallelism, and the command each pod runs (its `sh -c` script, run by /bin/sh with a stand-in `mpq` that
/// prints its arguments) parses as that mpq command — the same `--shard I/N` and shard folders as the Slurm
/// scripts, and the merge job lists exactly the N shard folders.
final class KubernetesManifestTests: XCTestCase {
    private var folder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/k8s")
    }

    /// The manifest's text, `key: value` of the first line with that key, and the folded `sh -c` script.
    private func manifest(_ name: String) throws -> (text: String, script: String) {
        let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try XCTUnwrap(lines.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "- >-" }, name)
        let indent = lines[start + 1].prefix { $0 == " " }.count
        var script: [String] = []
        for line in lines[(start + 1)...] {
            guard line.prefix(while: { $0 == " " }).count >= indent, !line.trimmingCharacters(in: .whitespaces).isEmpty
            else { break }
            script.append(line.trimmingCharacters(in: .whitespaces))
        }
        return (text, script.joined(separator: " "))   // a folded scalar joins its lines with spaces
    }

    private func value(_ key: String, in text: String) -> String? {
        for line in text.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix(key + ":") { return t.dropFirst(key.count + 1).split(separator: "#")[0].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    private func shards(in text: String) throws -> Int {
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.contains("name: SHARDS") })
        let match = try XCTUnwrap(line.range(of: #"value: "([0-9]+)""#, options: .regularExpression))
        return try XCTUnwrap(Int(line[match].filter(\.isNumber)))
    }

    /// Runs the pod's script with a stand-in `mpq`; returns its arguments.
    private func arguments(_ script: String, environment: [String: String]) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let stub = "mpq() { printf '%s\\n' \"$@\"; }; "
        process.arguments = ["-c", stub + script.replacingOccurrences(of: "exec mpq", with: "mpq")]
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, script)
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func testIndexedJobsRunTheirShardOfAValidCommand() throws {
        for (file, command) in [("sensitivity-job.yaml", "sensitivity"), ("compare-job.yaml", "compare"),
                                ("evaluate-job.yaml", "evaluate")] {
            let (text, script) = try manifest(file)
            XCTAssertEqual(value("completionMode", in: text), "Indexed", file)
            let n = try shards(in: text)
            XCTAssertEqual(value("completions", in: text), String(n), "\(file): SHARDS = completions")
            XCTAssertEqual(value("parallelism", in: text).map { Int($0)! <= n }, true, file)
            let args = try arguments(script, environment: ["JOB_COMPLETION_INDEX": "3", "SHARDS": String(n)])
            XCTAssertEqual(args.first, command, file)
            let shard = try XCTUnwrap(args.firstIndex(of: "--shard"), file)
            XCTAssertEqual(args[shard + 1], "3/\(n)", file)
            XCTAssertTrue(args.contains { $0.hasSuffix("/shard-3") }, "\(file): one folder per shard: \(args)")
            XCTAssertNoThrow(try MPQ.parseAsRoot(args), "\(file): \(args.joined(separator: " "))")
        }
    }

    func testMergeJobListsEveryShardFolder() throws {
        let (text, script) = try manifest("merge-job.yaml")
        let n = try shards(in: text)
        let args = try arguments(script, environment: ["SHARDS": String(n), "KIND": "sensitivity"])
        XCTAssertEqual(Array(args.prefix(3)), ["merge", "--out", "/runs/sensitivity/merged"])
        XCTAssertEqual(Array(args.dropFirst(3)), (0..<n).map { "/runs/sensitivity/shard-\($0)" })
        XCTAssertNoThrow(try MPQ.parseAsRoot(args))
        // The shard jobs write where the merge job reads.
        for kind in ["sensitivity", "compare"] {
            let shardArgs = try arguments(try manifest("\(kind)-job.yaml").script,
                                          environment: ["JOB_COMPLETION_INDEX": "0", "SHARDS": String(n)])
            XCTAssertTrue(shardArgs.contains("/runs/\(kind)/shard-0"), "\(kind): \(shardArgs)")
        }
    }
}
