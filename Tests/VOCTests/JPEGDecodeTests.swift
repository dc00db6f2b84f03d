import Foundation
import XCTest
@testable import VOC

/// Decoded pixels against `cv2.imread` (BGR -> RGB) on real VOC JPEGs and generated variants
/// (grayscale, CMYK, progressive, 4:2:2 and 4:4:4 chroma); golden hashes from `Scripts/gen_image_fixtures.py`.
final class JPEGDecodeTests: XCTestCase {
    func testDecodeMatchesOpenCV() throws {
        let golden = try ImageFixtures.golden()
        XCTAssertEqual(golden.decode.count, 19)
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
}
