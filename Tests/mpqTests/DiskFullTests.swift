import Checkpoints
import Evaluation
import Foundation
import Quantization
import SafeIO
import VOC
import XCTest
@testable import mpq
@testable import Workflows

/// Full disks and unwritable outputs, made real with a file-size limit (`RLIMIT_FSIZE`, SIGXFSZ ignored): a write
/// past the limit fails with EFBIG exactly as one on a full disk fails with ENOSPC, and root's permissions do not
/// make it moot. Every writer must fail with one line naming the file, leave the previous output as it was and leave
/// no temporary file behind. (Manual check on a 64 KiB tmpfs, ENOSPC: notes/hardening.md.)
final class DiskFullTests: XCTestCase {
    /// Runs `body` with this process's file-size limit at `bytes` (restored afterwards). Only writes happen inside:
    /// XCTest's own output may be a file over the limit too, so assertions wait until the limit is lifted.
    private func withFileSizeLimit<T>(_ bytes: Int, _ body: () -> T) -> T {
        var old = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        let handler = signal(SIGXFSZ, SIG_IGN)
        var limited = old
        limited.rlim_cur = rlim_t(bytes)
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited)
        defer {
            setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
            signal(SIGXFSZ, handler)
        }
        return body()
    }

    private func contents(_ folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    }

    /// `write` replaces `file` (holding "previous") with more than 4 KiB under a 4 KiB limit: it must throw a
    /// one-line error naming the file, and leave `file` and its folder exactly as they were.
    private func assertAtomic(_ file: URL, line: UInt = #line, _ write: () throws -> Void) throws {
        let folder = file.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("previous".utf8).write(to: file)
        let before = try contents(folder)
        let error: Error? = withFileSizeLimit(4096) {
            do { try write(); return nil } catch { return error }
        }
        let text = error.map { ($0 as? LocalizedError)?.errorDescription ?? "\($0)" } ?? "no error"
        XCTAssertNotNil(error, "the write must fail", line: line)
        XCTAssertTrue(text.contains(file.path), "names the file: \(text)", line: line)
        XCTAssertTrue(text.contains("file-size limit") || text.contains("too large"), text, line: line)
        XCTAssertFalse(text.contains("\n"), "one line: \(text)", line: line)
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "previous", "previous output intact", line: line)
        XCTAssertEqual(try contents(folder), before, "no partial or temporary file left", line: line)
    }

    private let big = Data(repeating: 0x41, count: 64 * 1024)

    func testTheAtomicWriterUnderAFileSizeLimit() throws {
        let folder = try temporaryFolder()
        try assertAtomic(folder.appendingPathComponent("out.json")) {
            try AtomicFile.write(big, to: folder.appendingPathComponent("out.json"))
        }
        // Within the limit the same call replaces the file, keeping no temporary file.
        let small = folder.appendingPathComponent("small.txt")
        try AtomicFile.write("new", to: small)
        XCTAssertEqual(try String(contentsOf: small, encoding: .utf8), "new")
        XCTAssertEqual(try contents(folder), ["out.json", "small.txt"])
        // Created like any file (0666 minus the umask), not with the temporary file's 0600.
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let umaskLine = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Umask:") })
        let mask = try XCTUnwrap(Int(umaskLine.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8))
        let mode = try FileManager.default.attributesOfItem(atPath: small.path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o666 & ~mask)
    }

    func testUnwritableDestinationsFailNamingTheFile() throws {
        let folder = try temporaryFolder()
        let blocker = folder.appendingPathComponent("not-a-folder")
        try Data("x".utf8).write(to: blocker)
        // A parent that is a file: no permission bits involved, so it fails for root too.
        XCTAssertThrowsError(try AtomicFile.write("data", to: blocker.appendingPathComponent("out.json"))) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot write \(blocker.path)/out.json: "), "\(error)")
        }
        XCTAssertThrowsError(try Output.write(Data("x".utf8), to: blocker.appendingPathComponent("a/b.json").path)) {
            XCTAssertTrue("\($0)".contains(blocker.path), "\($0)")
        }
        XCTAssertEqual(try contents(folder), ["not-a-folder"])
    }

    func testCommandOutputsSafetensorsAndResultFilesUnderAFileSizeLimit() throws {
        let folder = try temporaryFolder()
        // --json / --draw of every command (Output), quantize --out and --dump-raw (SafeTensors.write).
        try assertAtomic(folder.appendingPathComponent("report.json")) {
            try Output.write(big, to: folder.appendingPathComponent("report.json").path)
        }
        try assertAtomic(folder.appendingPathComponent("q.safetensors")) {
            try SafeTensors.write(tensors: [("w", StoredTensor(floats: [Float](repeating: 1, count: 4096), shape: [4096]))],
                                  to: folder.appendingPathComponent("q.safetensors"))
        }
        // evaluate's comp4 result files: the first class's file is over the limit.
        let results = folder.appendingPathComponent("results")
        let detections = (0..<400).map { i in
            Detection(classIndex: 0, score: Float(i) / 400, x1: 1, y1: 2, x2: 30, y2: 40)
        }
        let name = ResultFiles.fileName(split: "test", className: "car")
        try assertAtomic(results.appendingPathComponent(name)) {
            try ResultFiles.write([(id: "000001", detections: detections)], classNames: ["car"], split: "test", to: results)
        }
    }

    /// `sensitivity --report`: the report folder's files (JSON first, over the limit here).
    func testSensitivityReportUnderAFileSizeLimit() throws {
        let layers = (0..<60).map { i in
            #"{"name":"base_net.\#(i).conv","params":\#(1000 + i),"macs":\#(100000 * i),"results":["#
                + [2, 4, 8].map { #"{"bits":\#($0),"map":0.5,"map_drop":0.01,"sqnr_db":12.5}"# }.joined(separator: ",") + "]}"
        }
        let json = #"{"layers":["# + layers.joined(separator: ",") + #"],"map_fp32":0.7}"#
        let report = try JSONDecoder().decode(SensitivityReport.self, from: Data(json.utf8))
        let folder = try temporaryFolder().appendingPathComponent("sens")
        try assertAtomic(folder.appendingPathComponent("sensitivity.json")) {
            _ = try SensitivityReportFiles.write(report, settings: [("split", "test")], to: folder)
        }
    }

    /// A journal append that does not fit leaves the journal with complete lines only (the torn part is cut), and
    /// the error names the journal.
    func testJournalAppendOnAFullDiskKeepsOnlyCompleteLines() throws {
        let folder = try temporaryFolder()
        let journal = try EvaluationJournal(folder: folder, settings: "split=test")
        try journal.append(imageID: "000001", detections: [Detection(classIndex: 0, score: 0.5, x1: 1, y1: 2, x2: 3, y2: 4)])
        let url = folder.appendingPathComponent(EvaluationJournal.fileName)
        let before = try Data(contentsOf: url)
        let many = (0..<200).map { Detection(classIndex: 0, score: Float($0) / 200, x1: 1, y1: 2, x2: 3, y2: 4) }
        let error: Error? = withFileSizeLimit(before.count + 100) {
            do { try journal.append(imageID: "000002", detections: many); return nil } catch { return error }
        }
        XCTAssertTrue("\(error.map { "\($0)" } ?? "no error")".contains(url.path), "\(String(describing: error))")
        XCTAssertEqual(try Data(contentsOf: url), before, "the torn line is cut")
        let reopened = try EvaluationJournal(folder: folder, settings: "split=test")
        XCTAssertEqual(Set(reopened.finished.keys), ["000001"])
    }

    /// The same for the unit journal of `sensitivity --shard` / `compare --shard`.
    func testUnitJournalAppendOnAFullDiskKeepsOnlyCompleteLines() throws {
        let folder = try temporaryFolder()
        let header = ShardRunHeader(kind: "sensitivity", run: "r", settings: [["split", "test"]], shard: "0/1", units: 3)
        let journal = try ShardJournal(folder: folder, header: header)
        try journal.append(ShardUnitRecord(unit: 0, seconds: 1.5, fields: ["conv0", "0.5"]))
        let url = folder.appendingPathComponent(ShardJournal.fileName)
        let before = try Data(contentsOf: url)
        let long = ShardUnitRecord(unit: 1, seconds: 2, fields: (0..<100).map { "field\($0)" })
        let error: Error? = withFileSizeLimit(before.count + 100) {
            do { try journal.append(long); return nil } catch { return error }
        }
        XCTAssertTrue("\(error.map { "\($0)" } ?? "no error")".contains(url.path), "\(String(describing: error))")
        XCTAssertEqual(try Data(contentsOf: url), before, "the torn line is cut")
        let reopened = try ShardJournal(folder: folder, header: header)
        XCTAssertEqual(Set(reopened.finished.keys), [0])
    }

    /// The real commands under `ulimit -f` (a child shell ignores SIGXFSZ, then execs mpq): `detect --json`,
    /// `detect --draw` and `quantize --out` fail with one line naming the file, keep the previous file and leave
    /// nothing else in the folder.
    func testCommandsUnderUlimitKeepThePreviousOutput() throws {
        let folder = try temporaryFolder()
        let image = RepositoryFixtures.voc2007.appendingPathComponent("JPEGImages/000001.jpg").path
        let json = folder.appendingPathComponent("det.json"), drawn = folder.appendingPathComponent("drawn")
        try FileManager.default.createDirectory(at: drawn, withIntermediateDirectories: true)
        let png = drawn.appendingPathComponent("000001.png")
        let out = folder.appendingPathComponent("q.safetensors")
        for file in [json, png, out] { try Data("previous".utf8).write(to: file) }
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let runs: [(URL, [String])] = [
            (json, ["detect", "--model", TestDataset.checkpoint.path, image, "--score-threshold", "0", "--json", json.path]),
            (png, ["detect", "--model", TestDataset.checkpoint.path, image, "--draw", drawn.path]),
            (out, ["quantize", "--model", TestDataset.checkpoint.path, "--voc-root", root.path, "--calib-images", "1",
                   "--method", "rtn", "--wbits", "8", "--abits", "32", "--threads", "1", "--out", out.path]),
        ]
        for (file, arguments) in runs {
            let run = try runLimited(arguments, kilobytes: 8)
            XCTAssertFalse(run.timedOut)
            XCTAssertNotEqual(run.status, 0, "\(arguments[0]) must fail: \(run.stderr)")
            let last = run.stderrLines.last ?? ""
            XCTAssertTrue(last.contains(file.path), "names \(file.lastPathComponent): \(run.stderr)")
            XCTAssertTrue(last.contains("file-size limit"), run.stderr)
            XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "previous", arguments[0])
        }
        XCTAssertEqual(try contents(folder), ["det.json", "drawn", "q.safetensors"])
        XCTAssertEqual(try contents(drawn), ["000001.png"])
    }

    /// Every output goes through `AtomicFile`: no source file writes a file any other way (`AppendOnlyFile`, the
    /// journals' writer, which appends by design and cuts a torn line, is the exception).
    func testNoWriterBypassesTheAtomicWriter() throws {
        let sources = RepositoryFixtures.testsFolder.deletingLastPathComponent().appendingPathComponent("Sources")
        let patterns = [".write(to", "createFile(atPath", "FileHandle(forWritingTo", "FileHandle(forUpdating",
                        "fopen(", ".write(toFile"]
        let allowed: Set<String> = ["SafeIO/AtomicFile.swift", "SafeIO/AppendOnlyFile.swift"]
        var offenders: [String] = []
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String } ?? []
        XCTAssertGreaterThan(files.count, 100)
        for file in files where file.hasSuffix(".swift") && !allowed.contains(file) {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                if patterns.contains(where: { line.contains($0) }) { offenders.append("\(file):\(n + 1): \(line)") }
            }
        }
        XCTAssertEqual(offenders, [], "write through AtomicFile.write")
    }

    /// `mpq ARGUMENTS` through `sh -c 'trap "" XFSZ; ulimit -f N; exec …'`; stdout and stderr go to a folder the
    /// child also writes under the limit, so they stay short (a few lines).
    private func runLimited(_ arguments: [String], kilobytes: Int) throws -> MPQRun {
        let binary = try mpqBinaryURL()
        // POSIX `ulimit -f` counts 512-byte blocks (dash, bash --posix); bash alone counts KiB. Either way ≥ 4 KiB.
        let script = "trap '' XFSZ; ulimit -f \(2 * kilobytes) && exec \"$0\" \"$@\""
        return try runMPQ(["-c", script, binary.path] + arguments, timeout: 600, executable: URL(fileURLWithPath: "/bin/sh"))
    }
}
