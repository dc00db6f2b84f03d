import XCTest
import Imaging
@testable import SSD

/// The detectors' presets (docs/reference-detectors.md, "Image preprocessing") and their spelling on the command line.
final class PreprocessPresetTests: XCTestCase {
    func testPresetNormalisations() {
        XCTAssertEqual(PreprocessPreset.mobilenet.normalization, Normalization(mean: SIMD3(127, 127, 127), scale: 1.0 / 128.0))
        XCTAssertEqual(PreprocessPreset.vgg16SSD.normalization, Normalization(mean: SIMD3(123, 117, 104), scale: 1))
        XCTAssertEqual(PreprocessPreset.ssd300.normalization, Normalization(mean: SIMD3(123, 117, 104), scale: 1))
        XCTAssertEqual(PreprocessPreset(rawValue: "vgg16-ssd"), .vgg16SSD)
        XCTAssertEqual(PreprocessPreset.allCases.map(\.rawValue), ["mobilenet", "vgg16-ssd", "ssd300"])
    }

    /// The preset overload is the normalisation overload: a 2 x 2 image at size 2 (identity resize), by hand.
    func testPresetOverloadNormalises() {
        let image = RGBImage(width: 2, height: 2, pixels: [255, 0, 127, 1, 2, 3, 10, 20, 30, 123, 117, 104])
        XCTAssertEqual(preprocess(image, size: 2, preset: .ssd300),
                       [132, -122, -113, 0, -117, -115, -97, 0, 23, -101, -74, 0])
    }
}
