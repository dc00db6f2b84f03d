import Foundation
import Quantization
import SSD
import Tensors
import XCTest

/// `mpq sensitivity` with cached float activations (each run resumed at the layer's stage) against runs from the
/// image, on the tiny mb2-ssd-lite fixture of `SensitivityTests`.
final class SensitivityCacheTests: XCTestCase {
    /// One conv of each kind of stage: the stem, a residual block, block 14's expansion (source 0) and its
    /// heads (depthwise of a separable head, pointwise of the box head), the rest of block 14, `base_net.18`
    /// (source 1), an extra, and the last 1x1 heads.
    static let layers = ["base_net.0.0", "base_net.3.conv.3", "base_net.14.conv.0", "classification_headers.0.0",
                         "regression_headers.0.3", "base_net.14.conv.6", "base_net.18.0", "extras.1.conv.3",
                         "classification_headers.5", "regression_headers.5"]

    func runner(_ model: SSDModel, cache: Bool, budget: Int = 2 << 30) -> SensitivityRunner {
        let eval = SensitivityTests.images(2, seed: 1), calib = SensitivityTests.images(1, seed: 2)
        let truth = SensitivityTests.groundTruth(model, images: eval, classes: (1..<model.classes).map { "class\($0)" })
        return SensitivityRunner(model: model, evaluationImages: eval, groundTruth: truth, calibrationImages: calib,
                                 options: .init(bits: [2], method: .rtn, threads: 2, cacheActivations: cache,
                                                activationCacheBytes: budget))
    }

    func testCachedRunsEqualRunsFromTheImage() throws {
        let model = try SSDModel.load(contentsOf: SensitivityTests.fixture).model
        let naive = try runner(model, cache: false).run(layers: Self.layers)
        XCTAssertEqual(naive.layers.map(\.name), Self.layers)
        // Every layer moved the outputs at 2 bits (a layer that did not would not test the resumption).
        for layer in naive.layers { XCTAssertNotNil(layer.results[0].sqnrDB, layer.name) }
        XCTAssertEqual(try runner(model, cache: true).run(layers: Self.layers), naive)
        // A budget that holds only the small late activations: early layers start from the image, the rest from
        // the cache (the stem's 150x150 output alone needs more than 2 MB for three images).
        let small = runner(model, cache: true, budget: 2 << 20)
        XCTAssertLessThan(small.activationCachePeakBytes(), 2 << 20)
        XCTAssertGreaterThan(small.activationCachePeakBytes(), 0)
        XCTAssertEqual(try small.run(layers: Self.layers), naive)
    }

    /// The cache's footprint by hand: the largest state past the image of the tiny mb2 (width 0.25: 8 stem
    /// channels; 3 classes, 3000 priors) is the stem output `[1, 8, 150, 150]` with the outputs `3000 · (3 + 4)`,
    /// held for each of the three images.
    func testPeakBytes() throws {
        let model = try SSDModel.load(contentsOf: SensitivityTests.fixture).model
        var ws = SSDWorkspace()
        var state = model.startState(Tensor(zeros: [1, 3, 300, 300]))
        var largest = 0
        for k in model.stages.indices {
            model.advance(&state, to: k + 1, workspace: &ws)
            largest = max(largest, state.floatCount)
        }
        XCTAssertEqual(largest, 8 * 150 * 150 + 3000 * 7)
        XCTAssertEqual(runner(model, cache: true).activationCachePeakBytes(), 3 * largest * 4)
        XCTAssertEqual(runner(model, cache: false).activationCachePeakBytes(), 0)
    }
}
