import Checkpoints
import Foundation
@testable import Quantization
import SSD
import Tensors
import XCTest

/// Cross-layer equalization and bias correction (DFQ) on the small seeded torch fixtures of the SSD tests
/// (Scripts/gen_ssd_fixtures.py): MobileNetV1 (ReLU, depthwise), VGG16 (ReLU, max pools) and MobileNetV2-SSD-Lite
/// (ReLU6, residual blocks).
final class DFQTests: XCTestCase {
    private func fixture(_ file: String) throws -> SSDModel {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../SSDTests/Fixtures/parity/torch/\(file)").standardized
        let (dict, _) = try Checkpoint.load(url)
        return try SSDModel(loading: dict, file: url.lastPathComponent)
    }

    private func images(_ count: Int, seed: UInt64) -> [Tensor] {
        var rng = SeededRNG(seed: seed)
        return (0..<count).map { _ in
            Tensor(shape: [1, 3, 300, 300], data: (0..<270_000).map { _ in Float.random(in: -1...1, using: &rng) })
        }
    }

    private func outputs(_ model: SSDModel, _ inputs: [Tensor]) -> [Float] {
        var ws = SSDWorkspace()
        return inputs.flatMap { x -> [Float] in
            let out = model.forward(x, workspace: &ws)
            return out.confidences + out.locations
        }
    }

    private func conv(_ model: SSDModel, _ name: String) throws -> Conv2D {
        try XCTUnwrap(model.convolutions.first { $0.name == name }?.conv)
    }

    /// Largest relative gap between `first`'s output-channel ranges and `second`'s input-channel ranges.
    private func rangeGap(_ model: SSDModel, _ pair: ConvPair) throws -> Double {
        let c1 = try conv(model, pair.first), c2 = try conv(model, pair.second)
        let r1 = CrossLayerEqualization.outputRanges(c1.weight.data.map(Double.init), c1)
        let r2 = CrossLayerEqualization.inputRanges(c2.weight.data.map(Double.init), c2)
        return zip(r1, r2).map { a, b in Swift.abs(a - b) / Swift.max(a, b, 1e-30) }.max() ?? 0
    }

    private func assertEqualizationExact(_ file: String, line: UInt = #line) throws -> CrossLayerEqualization.Report {
        let model = try fixture(file)
        let inputs = images(2, seed: 7)
        let before = outputs(model, inputs)
        let (equalized, report) = try CrossLayerEqualization.equalize(model)
        let after = outputs(equalized, inputs)
        let scale = before.map(Swift.abs).max() ?? 1
        let worst = zip(before, after).map { Swift.abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(Double(worst), 2e-5 * Double(scale), "\(file): float outputs moved", line: line)
        XCTAssertLessThan(report.lastChange, 1e-5, "\(file): not converged in \(report.sweeps) sweeps", line: line)
        for pair in report.pairs {
            XCTAssertLessThan(try rangeGap(equalized, pair), 1e-3, "\(file) \(pair)", line: line)
        }
        // It did something: some pair's ranges were far apart before.
        if !report.pairs.isEmpty {
            XCTAssertGreaterThan(try report.pairs.map { try rangeGap(model, $0) }.max() ?? 0, 0.3, file, line: line)
        }
        return report
    }

    /// MobileNetV1: ReLU pairs incl. depthwise on both sides; float outputs equal, ranges equal, 29 pairs, none
    /// leaving a detection source.
    func testEqualizationMobileNetV1KeepsOutputsAndEqualizesRanges() throws {
        let report = try assertEqualizationExact("small-mb1-c5.pth")
        XCTAssertEqual(report.pairs.count, 29)
        XCTAssertTrue(report.skipped.isEmpty)
        let firsts = Set(report.pairs.map(\.first))
        XCTAssertFalse(firsts.contains("base_net.11.3"), "source 0 feeds the heads")
        XCTAssertFalse(firsts.contains("base_net.13.3"), "source 1 feeds the heads")
        XCTAssertTrue(report.pairs.contains(ConvPair(first: "base_net.1.0", second: "base_net.1.3", activation: .relu)))
        XCTAssertTrue(report.pairs.contains(ConvPair(first: "base_net.1.3", second: "base_net.2.0", activation: .relu)))
    }

    /// VGG16 (max pools between convs): outputs equal; no pair leaves conv4_3 (source 0).
    func testEqualizationVGGKeepsOutputsAndEqualizesRanges() throws {
        let report = try assertEqualizationExact("small-vgg16-ssd-l2norm-c3.pth")
        XCTAssertFalse(report.pairs.contains { $0.first == "base_net.21" })
        XCTAssertTrue(report.pairs.contains { $0.first == "base_net.19" && $0.second == "base_net.21" })
    }

    /// MobileNetV2-SSD-Lite: every pair inside a block is ReLU6 (skipped); only the two linear projection -> next
    /// conv pairs with no residual add on either side are equalized; outputs equal.
    func testEqualizationMobileNetV2SkipsReLU6AndResidualAdds() throws {
        let report = try assertEqualizationExact("small-mb2-w0.25-c3.pth")
        XCTAssertEqual(report.pairs.map(\.first), ["base_net.1.conv.3", "base_net.17.conv.6"])
        XCTAssertEqual(report.pairs.map(\.second), ["base_net.2.conv.0", "base_net.18.0"])
        XCTAssertEqual(report.skipped.count, 51)
        XCTAssertTrue(report.skipped.allSatisfy { $0.pair.activation == .relu6 })
    }

    /// Per-channel means of every listed conv's output before its activation, with `hook` applied to inputs
    /// (computed by running a copy of the conv with identity activation on the captured input).
    private func preActivationMeans(_ model: SSDModel, names: [String], images: [Tensor],
                                    quantization: InputQuantization?) -> [String: [Double]] {
        final class Sums: @unchecked Sendable { var values: [String: [Double]] = [:] }
        let sums = Sums()
        let convs = Dictionary(model.convolutions.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        let wanted = Set(names)
        let q = quantization?.hook
        var ws = SSDWorkspace()
        for image in images {
            _ = model.forward(image, workspace: &ws, hook: { name, x in
                let y = q?(name, x) ?? x
                guard wanted.contains(name), let c = convs[name] else { return y }
                let linear = Conv2D(weight: c.weight, bias: c.bias, stride: c.stride, padding: c.padding,
                                    dilation: c.dilation, groups: c.groups, activation: .identity)
                let out = linear(y)
                let plane = out.shape[2] * out.shape[3]
                let means = (0..<out.shape[1]).map { o in
                    Double(out.data[o * plane..<(o + 1) * plane].reduce(0, +)) / Double(plane)
                }
                sums.values[name] = sums.values[name].map { zip($0, means).map(+) } ?? means
                return y
            })
        }
        return sums.values.mapValues { $0.map { $0 / Double(images.count) } }
    }

    private func meanErrors(_ float: SSDModel, _ q: QuantizedModel, images: [Tensor]) -> [String: [Double]] {
        let names = q.layers.map(\.name)
        let f = preActivationMeans(float, names: names, images: images, quantization: nil)
        let e = preActivationMeans(q.model, names: names, images: images, quantization: q.inputQuantization)
        return Dictionary(uniqueKeysWithValues: names.compactMap { n in
            guard let a = f[n], let b = e[n] else { return nil }
            return (n, zip(a, b).map { $0 - $1 })
        })
    }

    /// After bias correction every quantized layer's per-channel mean output equals the float network's on the
    /// calibration images (layer by layer on quantized inputs), and on other images the total mean error falls.
    func testBiasCorrectionRemovesPerChannelMeanOutputError() throws {
        let model = try fixture("small-mb1-c5.pth")
        let calib = images(4, seed: 11), held = images(3, seed: 12)
        let calibrator = Calibrator(layers: model.quantizableLayers, grams: false, ranges: true)
        var ws = SSDWorkspace()
        for image in calib { calibrator.observe(image, model: model, workspace: &ws) }
        let q = try ModelQuantizer.quantize(model: model, statistics: try calibrator.statistics(),
                                            options: .init(method: .rtn, weightBits: 3, activationBits: 8))
        let (corrected, layers) = try BiasCorrection.correct(q, float: model, images: calib)
        XCTAssertEqual(layers.count, q.layers.count)

        let before = meanErrors(model, q, images: calib), after = meanErrors(model, corrected, images: calib)
        let worstBefore = before.values.flatMap { $0.map(Swift.abs) }.max() ?? 0
        let worstAfter = after.values.flatMap { $0.map(Swift.abs) }.max() ?? 0
        XCTAssertGreaterThan(worstBefore, 1e-2, "3-bit RTN shifts the means")
        XCTAssertLessThan(worstAfter, 1e-3 * worstBefore + 1e-5, "corrected means equal the float means")
        for (name, e) in after {
            let b = before[name] ?? []
            XCTAssertLessThanOrEqual(e.map(Swift.abs).reduce(0, +), b.map(Swift.abs).reduce(0, +) + 1e-4, name)
        }
        let heldBefore = meanErrors(model, q, images: held).values.flatMap { $0.map(Swift.abs) }.reduce(0, +)
        let heldAfter = meanErrors(model, corrected, images: held).values.flatMap { $0.map(Swift.abs) }.reduce(0, +)
        XCTAssertLessThan(heldAfter, 0.7 * heldBefore, "held-out images: the correction generalises")
    }

    /// `meanPatch` against a brute-force im2col mean (stride 2, padding 1, dilation 1 and 2).
    func testMeanPatchMatchesBruteForce() throws {
        var rng = SeededRNG(seed: 3)
        let x = Tensor(shape: [1, 3, 7, 6], data: rng.gaussianFloats(126))
        for (stride, padding, dilation) in [(2, 1, 1), (1, 2, 2), (1, 0, 1)] {
            let c = Conv2D(weight: Tensor(zeros: [4, 3, 3, 3]), bias: nil, stride: stride, padding: padding,
                           dilation: dilation)
            let got = BiasCorrection.meanPatch(x, conv: c)
            let outH = (7 + 2 * padding - dilation * 2 - 1) / stride + 1, outW = (6 + 2 * padding - dilation * 2 - 1) / stride + 1
            for ch in 0..<3 {
                for ky in 0..<3 {
                    for kx in 0..<3 {
                        var s = 0.0
                        for oy in 0..<outH {
                            for ox in 0..<outW {
                                let iy = oy * stride + ky * dilation - padding, ix = ox * stride + kx * dilation - padding
                                if iy >= 0 && iy < 7 && ix >= 0 && ix < 6 { s += Double(x.data[(ch * 7 + iy) * 6 + ix]) }
                            }
                        }
                        XCTAssertEqual(got[(ch * 3 + ky) * 3 + kx], s / Double(outH * outW), accuracy: 1e-9)
                    }
                }
            }
        }
    }
}
