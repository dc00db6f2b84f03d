import Foundation
import XCTest
@testable import Imaging
@testable import Evaluation
@testable import VOC

/// `LinearResizePlan` against `cv2.resize(..., interpolation=cv2.INTER_LINEAR)`: golden hashes from
/// `Scripts/gen_image_fixtures.py` on real VOC images and on noise images, plus hand-computed cases.
final class ResizeTests: XCTestCase {
    private func resize(_ src: [UInt8], _ sw: Int, _ sh: Int, _ cn: Int, _ dw: Int, _ dh: Int,
                        threads: Int = 1) -> [UInt8] {
        let plan = LinearResizePlan(srcWidth: sw, srcHeight: sh, dstWidth: dw, dstHeight: dh, channels: cn)
        var out = [UInt8](repeating: 0, count: dw * dh * cn)
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in plan.run(s, into: d, threads: threads) }
        }
        return out
    }

    /// 1 x 2 grey row [0, 255] to 4 x 1, scale 0.5:
    /// dx 0: f = -0.25 -> clamped to pixel 0 -> 0.
    /// dx 1: f = 0.25, weights (1536, 512): h = 255 * 512 = 130560; (2048 * (130560 >> 4)) >> 16 = 255; (255 + 2) >> 2 = 64.
    /// dx 2: f = 0.75, weights (512, 1536): h = 391680; (2048 * 24480) >> 16 = 765; (765 + 2) >> 2 = 191.
    /// dx 3: f = 1.25 >= width - 1 -> clamped to pixel 1 -> 255. (cv2 prints [[0 64 191 255]].)
    func testHandComputedRow() {
        XCTAssertEqual(resize([0, 255], 2, 1, 1, 4, 1), [0, 64, 191, 255])
    }

    /// A column [67; 40] to height 5 shows OpenCV's truncating vertical pass. Row 3: f = Float(3.5 * 0.4 - 0.5)
    /// = 0.9 (0.89999998), weights round((1 - f) * 2048) = 205 and round(f * 2048) = 1843.
    /// h0 = 67 * 2048 = 137216, h1 = 40 * 2048 = 81920.
    /// OpenCV: (205 * (137216 >> 4)) >> 16 = 1758080 >> 16 = 26; (1843 * 5120) >> 16 = 9436160 >> 16 = 143;
    /// (26 + 143 + 2) >> 2 = 42. Exact rounding would give (87455 * 2048 + 2^21) >> 22 = 43. cv2 gives
    /// [67 64 54 42 40].
    func testHandComputedTruncation() {
        XCTAssertEqual(resize([67, 40], 1, 2, 1, 1, 5), [67, 64, 54, 42, 40])
    }

    func testNoiseImagesMatchOpenCV() throws {
        let golden = try ImageFixtures.golden()
        XCTAssertEqual(golden.synthetic.count, 24)
        for r in golden.synthetic {
            let seed = try XCTUnwrap(r.seed), sw = try XCTUnwrap(r.srcWidth), sh = try XCTUnwrap(r.srcHeight)
            let cn = try XCTUnwrap(r.channels)
            let src = ImageFixtures.noise(seed: seed, count: sw * sh * cn)
            let out = resize(src, sw, sh, cn, r.width, r.height)
            ImageFixtures.assertMatches(out, rowLength: r.width * cn, r,
                                        "noise \(seed): \(sw)x\(sh)x\(cn) -> \(r.width)x\(r.height)")
        }
    }

    func testRealImagesMatchOpenCV() throws {
        let golden = try ImageFixtures.golden()
        XCTAssertEqual(golden.resize.count, 139)
        var decoded: [String: RGBImage] = [:]
        var out = RGBImage()
        for r in golden.resize {
            let file = try XCTUnwrap(r.file)
            if decoded[file] == nil { decoded[file] = try JPEGDecoder.decode(fileAt: ImageFixtures.url(file)) }
            let image = try XCTUnwrap(decoded[file])
            image.resize(into: &out, width: r.width, height: r.height)
            ImageFixtures.assertMatches(out.pixels, rowLength: 3 * r.width, r,
                                        "resize \(file) \(image.width)x\(image.height) -> \(r.width)x\(r.height)")
        }
    }

    /// Row bands run in parallel; the bytes must not depend on how many.
    func testThreadCountDoesNotChangeOutput() {
        let src = ImageFixtures.noise(seed: 99, count: 331 * 257 * 3)
        let reference = resize(src, 331, 257, 3, 300, 300, threads: 1)
        for threads in [2, 3, 8] {
            XCTAssertEqual(resize(src, 331, 257, 3, 300, 300, threads: threads), reference, "threads \(threads)")
        }
        let up = resize(src, 331, 257, 3, 777, 555, threads: 1)
        XCTAssertEqual(resize(src, 331, 257, 3, 777, 555, threads: 4), up)
    }

    /// Same size is the identity (weights 2048/0 everywhere).
    func testSameSizeIsIdentity() {
        let src = ImageFixtures.noise(seed: 7, count: 45 * 31 * 4)
        XCTAssertEqual(resize(src, 45, 31, 4, 45, 31), src)
    }
}
