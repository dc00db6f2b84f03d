import Foundation
import XCTest
@testable import Imaging
@testable import VOC

/// Inputs the fuzzer (`Scripts/fuzz.sh xml|jpeg`, docs/fuzzing.md) turned up, kept in `Fixtures/fuzz/`: each must
/// be refused with a clean error naming the file, printing nothing and crashing nothing.
final class FuzzFindingsTests: XCTestCase {
    /// Runs `body` with file descriptor 2 sent to a temporary file; returns the result and what was printed.
    private func capturingStandardError<T>(_ body: () -> T) throws -> (T, String) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        fflush(nil)
        let saved = dup(2)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        dup2(fd, 2)
        let result = body()
        fflush(nil)
        dup2(saved, 2)
        close(fd)
        close(saved)
        return (result, try String(contentsOf: url, encoding: .utf8))
    }

    /// UCS-4 text with an invalid code point: libxml2 reported the conversion failure through its generic error
    /// handler, which printed "encoding error : input conversion failed ..." to stderr (twice) during
    /// `mpq dataset check`. Now silenced per parse; the file is still refused as malformed.
    func testEncodingErrorsAreRefusedWithoutPrinting() throws {
        let url = try Fixtures.root().appendingPathComponent("fuzz/ucs4-bad-code-point.xml")
        let (outcome, printed) = try capturingStandardError {
            Result { try AnnotationParser.parse(fileAt: url) }
        }
        XCTAssertEqual(printed, "")
        XCTAssertThrowsError(try outcome.get()) { error in
            XCTAssertEqual((error as? AnnotationError)?.kind, .malformedXML)
            XCTAssertTrue("\(error)".hasPrefix(url.path), "\(error)")
        }
    }
}
