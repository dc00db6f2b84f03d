import Foundation
import XCTest
@testable import Imaging
@testable import Evaluation
@testable import VOC

/// Decoded pixels against `cv2.imread` (BGR -> RGB) on real VOC JPEGs and generated variants
/// (grayscale, CMYK, progressive, 4:2:2 and 4:4:4 chroma, EXIF orientations 1-8); golden hashes from
/// `Scripts/gen_image_fixtures.py`.
final class JPEGDecodeTests: XCTestCase {
    func testDecodeMatchesOpenCV() throws {
        let golden = try ImageFixtures.golden()
        XCTAssertEqual(golden.decode.count, 27)
        var image = RGBImage()
        for record in golden.decode {
            let file = try XCTUnwrap(record.file)
            try JPEGDecoder.decode(fileAt: ImageFixtures.url(file), into: &image)
            XCTAssertEqual(image.width, record.width, file)
            XCTAssertEqual(image.height, record.height, file)
            ImageFixtures.assertMatches(image.pixels, rowLength: 3 * image.width, record, "decode \(file)")
        }
    }

    /// The grayscale file decodes with R = G = B, and its size comes from the header alone.
    func testGrayscaleIsReplicated() throws {
        let url = try ImageFixtures.url("images/gray.jpg")
        let image = try JPEGDecoder.decode(fileAt: url)
        XCTAssertEqual(image.width, 121)
        XCTAssertEqual(image.height, 91)
        for i in stride(from: 0, to: image.pixels.count, by: 3) {
            XCTAssertEqual(image.pixels[i], image.pixels[i + 1])
            XCTAssertEqual(image.pixels[i], image.pixels[i + 2])
        }
        let size = try JPEGDecoder.size(of: Data(contentsOf: url), file: url.path)
        XCTAssertEqual(size.width, 121)
        XCTAssertEqual(size.height, 91)
    }

    /// Reusing one buffer across images of different sizes gives the same pixels as fresh decodes.
    func testReusedBufferGivesSamePixels() throws {
        var image = RGBImage()
        // Large, small, large again, and the same pixel count in the other orientation.
        for file in ["voc-samples/VOCdevkit/VOC2007/JPEGImages/000001.jpg", "images/gray.jpg",
                     "voc-samples/VOCdevkit/VOC2007/JPEGImages/000002.jpg", "images/cmyk.jpg",
                     "voc-samples/VOCdevkit/VOC2007/JPEGImages/000004.jpg",
                     "voc-samples/VOCdevkit/VOC2007/JPEGImages/000003.jpg"] {
            let url = try ImageFixtures.url(file)
            try JPEGDecoder.decode(fileAt: url, into: &image)
            let fresh = try JPEGDecoder.decode(fileAt: url)
            XCTAssertEqual(image.width, fresh.width, file)
            XCTAssertEqual(image.height, fresh.height, file)
            XCTAssertTrue(image.pixels == fresh.pixels, "\(file): pixels of the reused buffer differ")
        }
    }

    /// Orientation 6 (rotate 90 clockwise) of a 37 x 23 file: decoded 23 x 37, and `size(of:)` agrees.
    func testEXIFOrientationSwapsSize() throws {
        let url = try ImageFixtures.url("images/orientation6.jpg")
        let data = try Data(contentsOf: url)
        XCTAssertEqual(EXIFOrientation.read(data), 6)
        let image = try JPEGDecoder.decode(data, file: url.path)
        XCTAssertEqual([image.width, image.height], [23, 37])
        let size = try JPEGDecoder.size(of: data, file: url.path)
        XCTAssertEqual([size.width, size.height], [23, 37])
        XCTAssertEqual(EXIFOrientation.read(try Data(contentsOf: ImageFixtures.url("images/gray.jpg"))), 1)
    }

    /// Hand-made segments: a big-endian ("MM") TIFF with orientation 8 after an APP0, a value out of range, and a
    /// length running past the end of the data (ignored, never read out of bounds).
    func testEXIFParsingByHand() {
        let app0: [UInt8] = [0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00]
        // APP1 length = 2 + 6 ("Exif\0\0") + 8 (TIFF header) + 2 (count) + 12 (entry) = 30 = 0x1E.
        func app1(_ value: UInt8) -> [UInt8] {
            [0xFF, 0xE1, 0x00, 0x1E, 0x45, 0x78, 0x69, 0x66, 0x00, 0x00,
             0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,  // "MM", 42, IFD0 at offset 8
             0x00, 0x01,                                      // one entry
             0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, value, 0x00, 0x00]  // 0x0112 SHORT x1
        }
        let soi: [UInt8] = [0xFF, 0xD8]
        XCTAssertEqual(EXIFOrientation.read(Data(soi + app0 + app1(8))), 8)
        XCTAssertEqual(EXIFOrientation.read(Data(soi + app1(9))), 1)
        XCTAssertEqual(EXIFOrientation.read(Data(soi + app1(6).prefix(20))), 1)
        XCTAssertEqual(EXIFOrientation.read(Data(soi)), 1)
    }
}
