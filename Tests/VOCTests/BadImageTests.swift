import Foundation
import XCTest
@testable import Imaging
@testable import Evaluation
@testable import VOC

/// Files that are not decodable JPEGs: each must give an `ImageError` that names the file and says what is wrong,
/// never a crash, a hang or a silently grey-padded image.
final class BadImageTests: XCTestCase {
    private func expectError(_ url: URL, mentions words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try JPEGDecoder.decode(fileAt: url), line: line) { error in
            guard let error = error as? ImageError else {
                return XCTFail("not an ImageError: \(error)", line: line)
            }
            XCTAssertEqual(error.file, url.path, line: line)
            XCTAssertTrue(error.description.hasPrefix(url.path + ": "), error.description, line: line)
            for word in words {
                XCTAssertTrue(error.description.contains(word), "'\(word)' missing in: \(error.description)", line: line)
            }
        }
    }

    func testZeroByteFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-empty-\(getpid()).jpg")
        try Data().write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        expectError(url, mentions: ["empty file (0 bytes)"])
    }

    /// Baseline and progressive files cut at 8,192 bytes, and the truncated image inside the VOC2012 sample
    /// dataset: libjpeg only warns ("Premature end of JPEG file"), which the decoder turns into an error.
    func testTruncatedJPEGs() throws {
        for file in ["voc-samples/corrupt/000001_truncated.jpg", "voc-samples/corrupt/2007_000027_truncated.jpg",
                     "voc-samples/VOCdevkit/VOC2012/JPEGImages/2007_000027.jpg"] {
            expectError(try ImageFixtures.url(file), mentions: ["truncated", "Premature end of JPEG file"])
        }
    }

    func testTextFileNamedJPG() throws {
        expectError(try ImageFixtures.url("images/text_named.jpg"), mentions: ["not a JPEG file", "text file"])
    }

    func testPNGNamedJPG() throws {
        expectError(try ImageFixtures.url("images/png_named.jpg"), mentions: ["not a JPEG file", "PNG"])
    }

    func testMissingFile() throws {
        expectError(try ImageFixtures.url("images/no-such-file.jpg"), mentions: ["cannot read the file"])
    }

    /// A JPEG cut right after its start-of-image marker, and one whose header is garbage: libjpeg's fatal error
    /// comes back through the setjmp handler as an error, the process survives.
    func testHeaderOnlyAndGarbage() throws {
        let real = try Data(contentsOf: ImageFixtures.url("voc-samples/VOCdevkit/VOC2007/JPEGImages/000001.jpg"))
        XCTAssertThrowsError(try JPEGDecoder.decode(real.prefix(2), file: "cut.jpg")) { error in
            XCTAssertTrue("\(error)".hasPrefix("cut.jpg: "), "\(error)")
        }
        XCTAssertThrowsError(try JPEGDecoder.decode(real.prefix(300), file: "cut300.jpg")) { error in
            XCTAssertTrue("\(error)".hasPrefix("cut300.jpg: "), "\(error)")
        }
        var garbage = Data([0xFF, 0xD8, 0xFF, 0xC0])
        garbage.append(Data(ImageFixtures.noise(seed: 3, count: 200)))
        XCTAssertThrowsError(try JPEGDecoder.decode(garbage, file: "garbage.jpg")) { error in
            XCTAssertTrue("\(error)".contains("corrupt"), "\(error)")
        }
        XCTAssertThrowsError(try JPEGDecoder.size(of: Data(), file: "empty.jpg"))
    }
}
