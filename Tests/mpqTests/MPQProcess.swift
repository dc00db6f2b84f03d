import Foundation
import XCTest

/// How one run of the `mpq` binary ended.
struct MPQRun {
    /// Exit status, or the signal number when `reason == .uncaughtSignal`.
    var status: Int32
    var stdout: String
    var stderr: String
    /// `.exit` for a normal exit; `.uncaughtSignal` for a crash (or our timeout kill, see `timedOut`).
    var reason: Process.TerminationReason
    var timedOut: Bool

    /// Non-empty lines of standard error.
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Where the `mpq` executable built beside this test bundle is (`swift build --build-tests` builds it).
///
/// Looked up in order: `$MPQ_BINARY`; next to the test executable (Linux runs `<bin>/mpqPackageTests.xctest`
/// directly, so `Bundle.main` is in `<bin>`); next to this test bundle (macOS loads the bundle into `xctest`).
func mpqBinaryURL() throws -> URL {
    var candidates: [URL] = []
    if let explicit = ProcessInfo.processInfo.environment["MPQ_BINARY"] {
        candidates.append(URL(fileURLWithPath: explicit))
    }
    if let executable = Bundle.main.executableURL {
        candidates.append(executable.deletingLastPathComponent().appendingPathComponent("mpq"))
    }
    candidates.append(Bundle.main.bundleURL.appendingPathComponent("mpq"))
    candidates.append(Bundle(for: MPQBundleMarker.self).bundleURL.deletingLastPathComponent()
        .appendingPathComponent("mpq"))
    if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) {
        return found
    }
    throw MPQBinaryNotFound(searched: candidates.map(\.path))
}

/// The test fails with this (not a skip): the CLI tests must run wherever the unit tests run.
struct MPQBinaryNotFound: Error, CustomStringConvertible {
    let searched: [String]
    var description: String {
        "mpq binary not found (looked at \(searched.joined(separator: ", "))); build it with "
            + "`swift build --build-tests` or set MPQ_BINARY"
    }
}

private final class MPQBundleMarker {}

/// Runs the built `mpq` with `arguments` and returns its exit status, output and termination reason.
///
/// Output goes to temporary files (no pipe can fill up and block the child). A run longer than `timeout`
/// seconds is killed and reported with `timedOut = true` — a hang is a failure, not a stuck test suite.
/// - Throws: `MPQBinaryNotFound`, or the error of `Process.run()`.
func runMPQ(_ arguments: [String], timeout: TimeInterval = 120, currentDirectory: URL? = nil,
            environment: [String: String]? = nil, executable: URL? = nil) throws -> MPQRun {
    let binary = try mpqBinaryURL()
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let outURL = folder.appendingPathComponent("stdout"), errURL = folder.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let outHandle = try FileHandle(forWritingTo: outURL), errHandle = try FileHandle(forWritingTo: errURL)

    let process = Process()
    process.executableURL = executable ?? binary
    process.arguments = arguments
    process.standardOutput = outHandle
    process.standardError = errHandle
    process.standardInput = FileHandle.nullDevice
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    if let environment { process.environment = environment }
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    try process.run()
    var timedOut = false
    if finished.wait(timeout: .now() + timeout) == .timedOut {
        timedOut = true
        process.terminate()
        finished.wait()
    }
    try outHandle.close()
    try errHandle.close()
    return MPQRun(status: process.terminationStatus,
                  stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                  stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self),
                  reason: process.terminationReason, timedOut: timedOut)
}

/// Asserts a run ended by a normal exit (not a signal, not our timeout) with `status`.
func XCTAssertExit(_ run: MPQRun, _ status: Int32, _ message: String = "",
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(run.timedOut, "mpq timed out. \(message)", file: file, line: line)
    XCTAssertEqual(run.reason, .exit, "mpq ended by a signal (\(run.status)). \(message)\n\(run.stderr)",
                   file: file, line: line)
    XCTAssertEqual(run.status, status, "exit status. \(message)\nstdout: \(run.stdout)\nstderr: \(run.stderr)",
                   file: file, line: line)
}

/// Test data shared with other test targets, found from this source file (tests run from the source tree).
enum RepositoryFixtures {
    static let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static var vocSamples: URL { testsFolder.appendingPathComponent("VOCTests/Fixtures/voc-samples") }
    static var voc2007: URL { vocSamples.appendingPathComponent("VOCdevkit/VOC2007") }
    static var voc2012: URL { vocSamples.appendingPathComponent("VOCdevkit/VOC2012") }
    static var badXML: URL { testsFolder.appendingPathComponent("VOCTests/Fixtures/bad-xml") }
}
