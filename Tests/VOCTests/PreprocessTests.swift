import Foundation
import XCTest
@testable import Imaging

/// The preprocessing presets: resize on uint8 (checked against OpenCV in `ResizeTests`) then per-channel
/// normalisation, CHW float32.
final class PreprocessTests: XCTestCase {
    /// The reference detectors' normalisations (SSDTests checks that `PreprocessPreset` maps to these).
    static let mobilenet = Normalization(mean: SIMD3(127, 127, 127), scale: 1.0 / 128.0)
    static let vgg = Normalization(mean: SIMD3(123, 117, 104), scale: 1)

    /// A 2 x 2 source at size 2: the resize is the identity, so this checks the normalisation and the CHW layout
    /// by hand.
    func testPresetsOnIdentityResize() {
        let pixels: [UInt8] = [255, 0, 127, 1, 2, 3, 10, 20, 30, 123, 117, 104]
        let image = RGBImage(width: 2, height: 2, pixels: pixels)
        // mobilenet: (x - 127) / 128. R plane: (255-127)/128 = 1, (1-127)/128 = -0.984375, (10-127)/128 = -0.9140625,
        // (123-127)/128 = -0.03125.
        let m = preprocess(image, size: 2, normalization: Self.mobilenet)
        XCTAssertEqual(m, [1, -0.984375, -0.9140625, -0.03125,            // R
                           -0.9921875, -0.9765625, -0.8359375, -0.078125, // G: (0,2,20,117) - 127, / 128
                           0, -0.9687500, -0.7578125, -0.1796875])        // B: (127,3,30,104) - 127, / 128
        // vgg16-ssd and ssd300: R - 123, G - 117, B - 104.
        let expected: [Float] = [132, -122, -113, 0, -117, -115, -97, 0, 23, -101, -74, 0]
        XCTAssertEqual(preprocess(image, size: 2, normalization: Self.vgg), expected)
    }

    /// Real image: the preset applied to the OpenCV-identical 300 x 300 resize, element by element, and the
    /// buffer-reusing variant gives the same floats.
    func testRealImageMatchesResizeThenNormalise() throws {
        let url = try ImageFixtures.url("voc-samples/VOCdevkit/VOC2007/JPEGImages/000004.jpg")
        let image = try JPEGDecoder.decode(fileAt: url)
        let resized = image.resized(width: 300, height: 300)
        var scratch = PreprocessScratch()
        var reused = [Float](repeating: .nan, count: 3 * 300 * 300)
        for preset in [Self.mobilenet, Self.vgg] {
            let chw = preprocess(image, size: 300, normalization: preset)
            XCTAssertEqual(chw.count, 3 * 300 * 300)
            for (i, y, x, c) in [(0, 0, 0, 0), (1, 17, 250, 1), (2, 299, 299, 2), (3, 150, 3, 0)] {
                let byte = Float(resized.pixels[(y * 300 + x) * 3 + c])
                XCTAssertEqual(chw[c * 90_000 + y * 300 + x], (byte - preset.mean[c]) * preset.scale,
                               "\(preset) sample \(i)")
            }
            reused.withUnsafeMutableBufferPointer { buffer in
                preprocess(image, size: 300, normalization: preset, into: buffer, scratch: &scratch)
            }
            XCTAssertEqual(reused, chw, "\(preset)")
        }
    }
}
