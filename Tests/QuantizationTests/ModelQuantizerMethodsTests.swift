import Checkpoints
import Foundation
import SSD
import Tensors
import XCTest
@testable import Quantization

/// The equal-size baselines (gptq, ocs, mixed) through the one entry point `ModelQuantizer.quantize`, on the
/// small MobileNetV1-SSD parity fixture (5 classes, reduced widths; 1×1, 3×3 and depthwise convs) calibrated on
/// one seeded random image.
final class ModelQuantizerMethodsTests: XCTestCase {
    private static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../SSDTests/Fixtures/parity/torch/small-mb1-c5.pth").standardizedFileURL

    private struct Calibrated {
        let model: SSDModel
        let statistics: CalibrationStatistics
        let images: [Tensor]
    }

    private func calibrated() throws -> Calibrated {
        let model = try SSDModel.load(contentsOf: Self.fixture).model
        var rng = SeededRNG(seed: 7)
        let images = (0..<2).map { _ in Tensor(shape: [1, 3, 300, 300], data: rng.gaussianFloats(3 * 300 * 300)) }
        let calibrator = Calibrator(layers: model.quantizableLayers, grams: true, ranges: true)
        var workspace = SSDWorkspace()
        calibrator.observe(images[0], model: model, workspace: &workspace)
        return Calibrated(model: model, statistics: try calibrator.statistics(), images: images)
    }

    private func quantize(_ c: Calibrated, _ method: WeightQuantizationMethod, bits: Int, budget: Double? = nil,
                          abits: Int = 32, candidates: [Int] = Array(2...8)) throws -> QuantizedModel {
        try ModelQuantizer.quantize(model: c.model, statistics: c.statistics, options: ModelQuantizationOptions(
            method: method, weightBits: bits, activationBits: abits, budget: budget.map { .averageBits($0) },
            candidateBits: candidates, threads: 2))
    }

    private func errors(_ q: QuantizedModel) throws -> [Double] {
        try q.layers.map { try XCTUnwrap($0.accounting.relativeOutputError, $0.name) }
    }

    /// Largest |a - b| over the head outputs, relative to the largest |a|.
    private func relativeDifference(_ a: HeadOutputs, _ b: HeadOutputs) -> Float {
        let x = a.confidences + a.locations, y = b.confidences + b.locations
        let scale = x.reduce(Float(0)) { Swift.max($0, Swift.abs($1)) }
        return zip(x, y).reduce(Float(0)) { Swift.max($0, Swift.abs($1.0 - $1.1)) } / scale
    }

    func testGPTQBeatsRoundToNearestOnTheOutputError() throws {
        let c = try calibrated()
        XCTAssertTrue(c.model.quantizableLayers.contains { $0.groups > 1 }, "fixture should have depthwise convs")
        // GPTQ minimises exactly the measured output error, so it must beat RTN (same grid, min-max scales) and,
        // on most layers, MSE clipping (its own starting scales).
        let gptq = try errors(quantize(c, .gptq, bits: 3))
        let rtn = try errors(quantize(c, .rtn, bits: 3))
        let mse = try errors(quantize(c, .mse, bits: 3))
        XCTAssertGreaterThanOrEqual(Double(zip(gptq, rtn).filter { $0 <= $1 }.count), 0.9 * Double(gptq.count))
        XCTAssertGreaterThanOrEqual(Double(zip(gptq, mse).filter { $0 <= $1 * (1 + 1e-9) }.count),
                                    0.8 * Double(gptq.count))
        let q = try quantize(c, .gptq, bits: 3)
        XCTAssertEqual(q.accounting.averageWeightBits, 3, accuracy: 1e-12)
        XCTAssertEqual(q.accounting.extraMACs, 0, accuracy: 1e-12)
    }

    /// Mixed precision at 3.25 bits: `Σ n_l b_l ≤ floor(3.25 Σ n_l)` and no single layer could be raised to
    /// its next candidate width within the budget (the fill is as tight as the widths allow).
    func testMixedPrecisionMeetsItsBudgetAsTightlyAsWidthsAllow() throws {
        let c = try calibrated()
        let candidates = [2, 3, 4, 8]
        let proxy = try MixedPrecision.proxySensitivities(
            try c.model.quantizableLayers.map { l in
                try AllocationLayer(name: l.name, weights: l.weights, channels: l.channels, dimension: l.dimension,
                                    grams: try XCTUnwrap(c.statistics.grams[l.name]))
            }, candidateBits: candidates, threads: 2)
        for (name, row) in proxy { XCTAssertLessThan(try XCTUnwrap(row[8]), try XCTUnwrap(row[2]), name) }

        let q = try quantize(c, .mixed, bits: 3, budget: 3.25, candidates: candidates)
        let weights = q.layers.reduce(0) { $0 + $1.accounting.weightCount }
        let budget = Int((3.25 * Double(weights)).rounded(.down))
        let used = q.layers.reduce(0) { $0 + $1.accounting.codeBits }
        XCTAssertLessThanOrEqual(used, budget)
        for layer in q.layers {
            let b = layer.accounting.bits
            XCTAssertTrue(candidates.contains(b), "\(layer.name) at \(b) bits")
            XCTAssertEqual(layer.weights.pointCounts, [Int](repeating: 1, count: layer.weights.channels))
            guard let next = candidates.first(where: { $0 > b }) else { continue }
            XCTAssertGreaterThan(used + (next - b) * layer.accounting.weightCount, budget,
                                 "\(layer.name) could still be raised")
        }
        XCTAssertEqual(q.accounting.averageWeightBits, Double(used) / Double(weights), accuracy: 1e-12)
        XCTAssertGreaterThan(Set(q.layers.map(\.accounting.bits)).count, 1, "a real mix of widths")
        // Given sensitivities replace the proxy: a table making every layer but the first cheap at 2 bits.
        var table = proxy
        for name in table.keys { table[name] = [2: 0, 3: 0, 4: 0, 8: 0] }
        let first = q.layers[0].name
        table[first] = [2: 9, 3: 8, 4: 7, 8: 0]
        let steered = try ModelQuantizer.quantize(model: c.model, statistics: c.statistics, options: .init(
            method: .mixed, weightBits: 3, activationBits: 32, budget: .averageBits(3.25), sensitivities: table,
            candidateBits: candidates, threads: 2))
        XCTAssertEqual(steered.layers[0].accounting.bits, 8)
        table[first] = nil
        XCTAssertThrowsError(try ModelQuantizer.quantize(model: c.model, statistics: c.statistics, options: .init(
            method: .mixed, weightBits: 3, activationBits: 32, budget: .averageBits(3.25), sensitivities: table))) {
            XCTAssertTrue("\($0)".contains("no row for layer \(first)"), "\($0)")
        }
    }

    /// Multipoint with the budget counted in MACs: the MAC-weighted average bits stay within the budget, so the
    /// extra multiply-adds are at most 3.5/3 − 1; the weight-counted budget on the same model lets them exceed
    /// that (its points go where weights are few and positions many), and the MAC accounting is independent:
    /// Σ P·Σn·d over Σ P·C·d with P from the model's own conv output sizes.
    func testMACCostedMultipointBoundsTheExtraMultiplyAdds() throws {
        let c = try calibrated()
        func run(_ cost: AllocationCost) throws -> QuantizedModel {
            try ModelQuantizer.quantize(model: c.model, statistics: c.statistics, options: ModelQuantizationOptions(
                method: .multipoint, weightBits: 3, activationBits: 32, budget: .averageBits(3.5), cost: cost,
                threads: 2))
        }
        let macs = try run(.macs), weights = try run(.weights)
        XCTAssertLessThanOrEqual(macs.accounting.macAverageBits, 3.5 + 1e-12)
        XCTAssertLessThanOrEqual(macs.accounting.extraMACs, 3.5 / 3 - 1 + 1e-12)
        XCTAssertGreaterThan(macs.accounting.extraMACs, 0)
        XCTAssertLessThanOrEqual(weights.accounting.averageWeightBits, 3.5 + 1e-12)
        let positions = c.model.convOutputPositions()
        var num = 0, den = 0
        for layer in macs.layers {
            let p = try XCTUnwrap(positions[layer.name])
            num += p * layer.weights.pointCounts.reduce(0, +) * layer.weights.dimension
            den += p * layer.weightShape.dropFirst().reduce(layer.weightShape[0], *)
        }
        XCTAssertEqual(macs.accounting.extraMACs, Double(num) / Double(den) - 1, accuracy: 1e-12)
    }

    /// OCS at 3.25 bits with 3-bit points: f = 3.25/3 - 1 = 1/12; extra MACs ≤ f and average bits ≤ 3.25;
    /// depthwise convs are not split.
    func testOCSAccountingAtTheMatchedExpandRatio() throws {
        let c = try calibrated()
        let f = try OCS.extraFraction(matchingAverageBits: 3.25, bits: 3)
        let q = try quantize(c, .ocs, bits: 3, budget: 3.25)
        XCTAssertLessThanOrEqual(q.accounting.extraMACs, f + 1e-12)
        XCTAssertGreaterThan(q.accounting.extraMACs, 0)
        XCTAssertLessThanOrEqual(q.accounting.averageWeightBits, 3.25 + 1e-12)
        XCTAssertEqual(q.accounting.averageWeightBits, 3 * (1 + q.accounting.extraWeights), accuracy: 1e-12)
        for (layer, unit) in zip(q.layers, c.model.quantizableLayers) {
            if unit.groups > 1 { XCTAssertNil(layer.inputChannelMap, layer.name) }
            let splits = (layer.inputChannelMap?.count ?? unit.conv.inChannels) - unit.conv.inChannels
            XCTAssertEqual(splits, unit.groups > 1 ? 0 : Int((f * Double(unit.conv.inChannels) + 1e-9).rounded(.down)))
            XCTAssertEqual(layer.accounting.extraMACs, Double(splits) / Double(unit.conv.inChannels), accuracy: 1e-12)
        }
    }

    /// The OCS-split network computes the original function: every ungrouped conv replaced by its split form
    /// (expanded weights, input channels duplicated by the network) gives the original head outputs. Then the
    /// quantized OCS model run in its split form (expanded codes × scales, what an integer kernel runs) equals
    /// the folded fake-quant model mAP is scored with.
    func testOCSSplitNetworkEqualsOriginal() throws {
        let c = try calibrated()
        var split = c.model
        var splitLayers = 0
        for l in c.model.quantizableLayers where l.groups == 1 {
            let cIn = l.conv.inChannels, k = l.conv.kernelH * l.conv.kernelW
            let s = try OCS.split(weights: l.weights, outputChannels: l.channels, inputChannels: cIn, kernelSize: k,
                                  splits: Swift.max(1, cIn / 8))
            try split.splitInputChannels(
                named: l.name, weight: Tensor(shape: [l.channels, s.inputChannelMap.count, l.conv.kernelH, l.conv.kernelW],
                                              data: s.expandedWeights),
                bias: l.conv.bias ?? [Float](repeating: 0, count: l.channels), inputChannelMap: s.inputChannelMap)
            splitLayers += 1
        }
        XCTAssertGreaterThan(splitLayers, 5)
        var w1 = SSDWorkspace(), w2 = SSDWorkspace()
        for image in c.images {
            let a = c.model.forward(image, workspace: &w1), b = split.forward(image, workspace: &w2)
            XCTAssertLessThanOrEqual(relativeDifference(a, b), 1e-5)
        }

        let q = try quantize(c, .ocs, bits: 4, budget: 4.5, abits: 8)
        XCTAssertGreaterThan(q.layers.filter { $0.inputChannelMap != nil }.count, 5)
        let executed = try q.splitExecutionModel()
        for image in c.images {
            let a = q.model.forward(image, workspace: &w1, hook: q.activationHook)
            let b = executed.forward(image, workspace: &w2, hook: q.activationHook)
            XCTAssertLessThanOrEqual(relativeDifference(a, b), 1e-5)
        }
    }

    /// Every method saves to the quantized model file and loads back (weights Σ a·q, OCS copies folded, mixed
    /// widths, activation ranges) to exactly the outputs of the quantized model.
    func testEveryMethodSavesAndLoadsToIdenticalOutputs() throws {
        let c = try calibrated()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-qfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for method in WeightQuantizationMethod.allCases {
            let q = try quantize(c, method, bits: 3, budget: method.spendsBudget ? 3.5 : nil, abits: 8,
                                 candidates: [2, 3, 4, 8])
            let url = folder.appendingPathComponent("\(method.rawValue).safetensors")
            try SafeTensors.write(q.file(method: method.rawValue, wbits: 3, abits: 8, sourceSHA256: "0",
                                         version: "test").stateDict(), to: url)
            let file = try QuantizedFile.load(url, architecture: nil)
            let (loaded, quantization) = (file.model, file.quantized?.inputQuantization)
            XCTAssertNotNil(quantization)
            XCTAssertEqual(quantization, q.inputQuantization, method.rawValue)
            let installed = Dictionary(uniqueKeysWithValues: loaded.convolutions.map { ($0.name, $0.conv.weight.data) })
            for layer in q.layers { XCTAssertEqual(installed[layer.name], layer.reconstructedWeight, layer.name) }
            for engine in ForwardEngine.allCases {
                var w1 = SSDWorkspace(engine: engine), w2 = SSDWorkspace(engine: engine)
                let a = q.model.forward(c.images[1], workspace: &w1, quantization: q.inputQuantization)
                let b = loaded.forward(c.images[1], workspace: &w2, quantization: quantization)
                XCTAssertEqual(a, b, "\(method.rawValue) \(engine)")
                // A loaded OCS file holds the merged weights (split convs only in `splitExecutionModel`).
                XCTAssertEqual(w2.lastEngine, engine, method.rawValue)
            }
            let dict = try Checkpoint.load(url).0
            XCTAssertEqual(dict.metadata["layer_bits"], q.layers.map { "\($0.accounting.bits)" }.joined(separator: ","))
            XCTAssertEqual(dict.keys.filter { $0.hasSuffix(".input_map") }.count,
                           method == .ocs ? q.layers.filter { $0.inputChannelMap != nil }.count : 0, method.rawValue)
        }
    }
}
