import Foundation
import SSD
import Tensors
import XCTest
@testable import Quantization

/// Model-level baselines on the small MobileNetV1-SSD parity fixture (5 classes, reduced widths; 1×1, 3×3
/// and depthwise convs) calibrated on two seeded random images.
final class ModelBaselinesTests: XCTestCase {
    private static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../SSDTests/Fixtures/parity/torch/small-mb1-c5.pth").standardizedFileURL

    private struct Calibrated {
        let model: SSDModel
        let layers: [BaselineLayer]
        let images: [Tensor]
    }

    /// Grams `Σ_images X_gᵀ X_g` at every conv input, gathered through the forward hook.
    private func calibrated() throws -> Calibrated {
        let model = try SSDModel.load(contentsOf: Self.fixture).model
        var rng = SeededRNG(seed: 7)
        let images = (0..<2).map { _ in Tensor(shape: [1, 3, 300, 300], data: rng.gaussianFloats(3 * 300 * 300)) }
        let convs = Dictionary(model.convolutions.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        final class Box { var grams: [String: [[Double]]] = [:] }
        let box = Box()
        var workspace = SSDWorkspace()
        for image in images {
            _ = model.forward(image, workspace: &workspace, hook: { name, x in
                if let conv = convs[name] {
                    var g = box.grams[name] ?? []
                    conv.accumulateInputGram(x, into: &g)
                    box.grams[name] = g
                }
                return x
            })
        }
        return Calibrated(model: model, layers: try ModelBaselines.layers(of: model, grams: box.grams), images: images)
    }

    func testBaselinesAtModelLevel() throws {
        let c = try calibrated()
        XCTAssertGreaterThan(c.layers.count, 10)
        XCTAssertTrue(c.layers.contains { $0.groups > 1 }, "fixture should have depthwise convs")

        // GPTQ minimises exactly the measured output error, so it must beat RTN (same grid, min-max scales) and,
        // on most layers, MSE clipping (its own starting scales).
        let gptq = try ModelBaselines.gptq(c.layers, bits: 3, threads: 2)
        let rtn = try ModelBaselines.uniform(c.layers, bits: 3, method: .rtn, threads: 2)
        let mse = try ModelBaselines.uniform(c.layers, bits: 3, method: .mse, threads: 2)
        let betterThanRTN = zip(gptq.layers, rtn.layers).filter {
            $0.relativeOutputError <= $1.relativeOutputError }.count
        let betterThanMSE = zip(gptq.layers, mse.layers).filter {
            $0.relativeOutputError <= $1.relativeOutputError * (1 + 1e-9) }.count
        XCTAssertGreaterThanOrEqual(Double(betterThanRTN), 0.9 * Double(c.layers.count))
        XCTAssertGreaterThanOrEqual(Double(betterThanMSE), 0.8 * Double(c.layers.count))
        XCTAssertEqual(gptq.averageWeightBits, 3, accuracy: 1e-12)
        XCTAssertEqual(gptq.extraMACs, 0, accuracy: 1e-12)

        // Mixed precision at 3.25 bits: Σ n_l b_l ≤ floor(3.25 Σ n_l), and no single layer could be raised
        // to its next width within the budget (the fill is as tight as the widths allow).
        let weights = c.layers.reduce(0) { $0 + $1.weightCount }
        let budget = Int((3.25 * Double(weights)).rounded(.down))
        let (mixed, allocation) = try ModelBaselines.mixed(c.layers, averageBits: 3.25, threads: 2)
        let used = mixed.layers.reduce(0) { $0 + $1.codeBits }
        XCTAssertEqual(used, allocation.usedBits)
        XCTAssertLessThanOrEqual(used, budget)
        for (layer, b) in zip(c.layers, allocation.bits) where b < 8 {
            XCTAssertGreaterThan(used + layer.weightCount, budget, "\(layer.name) could still be raised")
        }
        XCTAssertEqual(mixed.averageWeightBits, Double(used) / Double(weights), accuracy: 1e-12)
        XCTAssertLessThanOrEqual(mixed.averageWeightBits, 3.25)

        // Proxy sensitivities: 8 bits always hurt (much) less than 2 bits.
        let proxy = try ModelBaselines.proxySensitivities(c.layers, candidateBits: [2, 8], threads: 2)
        for layer in c.layers {
            let row = try XCTUnwrap(proxy[layer.name])
            XCTAssertLessThan(try XCTUnwrap(row[8]), try XCTUnwrap(row[2]), layer.name)
        }

        // OCS at 3.25 bits with 3-bit points: f = 3.25/3 - 1 = 1/12; extra MACs ≤ f and average bits ≤ 3.25.
        let f = try OCS.extraFraction(matchingAverageBits: 3.25, bits: 3)
        let ocs = try ModelBaselines.ocs(c.layers, bits: 3, extraFraction: f, threads: 2)
        XCTAssertLessThanOrEqual(ocs.extraMACs, f + 1e-12)
        XCTAssertGreaterThan(ocs.extraMACs, 0)
        XCTAssertLessThanOrEqual(ocs.averageWeightBits, 3.25 + 1e-12)
        for layer in c.layers where layer.groups > 1 {
            XCTAssertEqual(ocs.layers.first { $0.name == layer.name }?.extraMACs, 0)
        }
    }

    /// The OCS-split network computes the original function: folding each split layer's expanded float
    /// weights back (`Σ` over copies of an input channel) and installing them gives bit-identical head outputs,
    /// because halving is exact and `w/2 + w/2 = w` in floating point.
    func testOCSSplitNetworkEqualsOriginalInFloat() throws {
        let c = try calibrated()
        var split: [BaselineLayerResult] = []
        for layer in c.layers {
            let s = try OCS.split(weights: layer.layer.weights, outputChannels: layer.layer.channels,
                                  inputChannels: layer.inputChannels, kernelSize: layer.kernelSize,
                                  splits: layer.groups == 1 ? Swift.max(1, layer.inputChannels / 8) : 0)
            var folded = [Float](repeating: 0, count: layer.layer.weights.count)
            let k = s.kernelSize, cIn = s.inputChannels, e = s.inputChannelMap.count
            for o in 0..<s.outputChannels {
                for (t, j) in s.inputChannelMap.enumerated() {
                    for i in 0..<k { folded[(o * cIn + j) * k + i] += s.expandedWeights[(o * e + t) * k + i] }
                }
            }
            XCTAssertEqual(folded, layer.layer.weights, layer.name)
            split.append(BaselineLayerResult(name: layer.name, weights: folded, bits: 32, codeBits: 0,
                                             weightCount: layer.weightCount, extraMACs: 0, bytes: 0,
                                             relativeOutputError: 0))
        }
        let model = try ModelBaselines.install(BaselineModelResult(layers: split), into: c.model)
        var w1 = SSDWorkspace(), w2 = SSDWorkspace()
        let a = c.model.forward(c.images[0], workspace: &w1)
        let b = model.forward(c.images[0], workspace: &w2)
        XCTAssertEqual(a.locations, b.locations)
        XCTAssertEqual(a.confidences, b.confidences)
    }
}
