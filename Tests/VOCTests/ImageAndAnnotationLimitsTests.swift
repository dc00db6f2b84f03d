import Foundation
import SafeIO
import XCTest
@testable import Imaging
@testable import VOC

/// The image and annotation limits of `InputLimits`: just over is refused naming the file and the limit, just at is
/// accepted where that is cheap; and the decoder stops at the first libjpeg warning.
final class ImageAndAnnotationLimitsTests: XCTestCase {
    /// `chroma444.jpg` with its frame header (SOF0/SOF2) declaring `width` x `height`.
    private func resized(width: Int, height: Int) throws -> Data {
        var data = try Data(contentsOf: try ImageFixtures.url("images/chroma444.jpg"))
        let bytes = [UInt8](data)
        let sof = try XCTUnwrap((2..<(bytes.count - 9)).first { bytes[$0] == 0xFF && (bytes[$0 + 1] == 0xC0 || bytes[$0 + 1] == 0xC2) })
        // FF Cn, length (2), precision (1), height (2, big-endian), width (2).
        data[sof + 5] = UInt8(height >> 8); data[sof + 6] = UInt8(height & 0xFF)
        data[sof + 7] = UInt8(width >> 8); data[sof + 8] = UInt8(width & 0xFF)
        return data
    }

    func testImagePixelLimit() throws {
        XCTAssertEqual(InputLimits.maxImagePixels, 16384 * 16384)
        XCTAssertThrowsError(try JPEGDecoder.decode(try resized(width: 16385, height: 16384), file: "big.jpg")) { error in
            XCTAssertEqual("\(error)", "big.jpg: JPEG of 16385 x 16384 pixels exceeds the limit of 268435456 pixels")
        }
    }

    /// A file whose header declares far more pixels than its data holds: libjpeg warns at the first missing
    /// scan data; the decoder stops there (it used to decode the whole grey-padded frame, then refuse it).
    func testTruncatedScanStopsAtTheFirstWarning() throws {
        let data = try resized(width: 8000, height: 8000)
        let start = ProcessInfo.processInfo.systemUptime
        XCTAssertThrowsError(try JPEGDecoder.decode(data, file: "tall.jpg")) { error in
            XCTAssertTrue("\(error)".hasPrefix("tall.jpg: "), "\(error)")
            XCTAssertFalse("\(error)".contains("exceeds the limit"), "\(error)")
        }
        // Decoding 64 M pixels takes seconds even optimised; stopping at the warning takes milliseconds plus the
        // 192 MB buffer's allocation.
        XCTAssertLessThan(ProcessInfo.processInfo.systemUptime - start, 3)
    }

    private func annotation(depth: Int) -> Data {
        // A valid annotation whose <object> carries a chain of <x> elements reaching `depth` (annotation = 1,
        // object = 2, so the chain adds depth - 2 levels).
        let chain = depth - 2
        let open = String(repeating: "<x>", count: chain), close = String(repeating: "</x>", count: chain)
        let xml = """
        <annotation><filename>a.jpg</filename><size><width>10</width><height>10</height><depth>3</depth></size>\
        <object><name>dog</name><difficult>0</difficult>\
        <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>\(open)\(close)</object></annotation>
        """
        return Data(xml.utf8)
    }

    func testAnnotationDepthLimit() throws {
        let n = InputLimits.maxAnnotationDepth
        let parsed = try AnnotationParser.parse(annotation(depth: n), file: "deep.xml")
        XCTAssertEqual(parsed.objects.map(\.name), ["dog"])
        XCTAssertThrowsError(try AnnotationParser.parse(annotation(depth: n + 1), file: "deeper.xml")) { error in
            let e = error as? AnnotationError
            XCTAssertEqual(e?.kind, .tooLarge)
            XCTAssertEqual(e?.file, "deeper.xml")
            XCTAssertTrue(e?.problem.contains("nested more than \(n) deep") ?? false, "\(error)")
        }
    }

    func testAnnotationSizeLimitAcceptsAFileOfExactlyTheLimit() throws {
        let head = "<annotation><filename>a.jpg</filename><size><width>1</width><height>1</height><depth>3</depth></size><!--"
        let tail = "--></annotation>"
        let exact = head + String(repeating: "x", count: InputLimits.maxAnnotationBytes - head.utf8.count - tail.utf8.count) + tail
        XCTAssertEqual(exact.utf8.count, InputLimits.maxAnnotationBytes)
        XCTAssertEqual(try AnnotationParser.parse(Data(exact.utf8), file: "exact.xml").filename, "a.jpg")
        XCTAssertThrowsError(try AnnotationParser.parse(Data((exact + " ").utf8), file: "over.xml")) { error in
            XCTAssertEqual((error as? AnnotationError)?.kind, .tooLarge)
            XCTAssertTrue("\(error)".contains("over.xml") && "\(error)".contains("\(InputLimits.maxAnnotationBytes) bytes"))
        }
    }
}
