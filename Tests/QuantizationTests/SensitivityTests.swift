import Foundation
import Quantization
import SSD
import Tensors
import Evaluation
import VOC
import XCTest

/// Sensitivity analysis on the tiny mb2-ssd-lite fixture of the SSD tests (width 0.25, 3 classes, random
/// weights exported by Scripts/gen_ssd_fixtures.py), on synthetic inputs.
final class SensitivityTests: XCTestCase {
    static var fixture: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SSDTests/Fixtures/parity/torch/small-mb2-w0.25-c3.pth")
    }

    /// Deterministic inputs in the network's range, `[1, 3, 300, 300]`.
    static func images(_ n: Int, seed: UInt64) -> PreparedImages {
        var rng = SeededRNG(seed: seed)
        let inputs = (0..<n).map { _ in
            Tensor(shape: [1, 3, 300, 300], data: (0..<(3 * 300 * 300)).map { _ in Float.random(in: -1...1, using: &rng) })
        }
        return PreparedImages(ids: (0..<n).map { "img\(seed)_\($0)" }, inputs: inputs,
                              sizes: [(width: Int, height: Int)](repeating: (300, 300), count: n))
    }

    /// Ground truth = the float model's three best detections per image (as VOC boxes), so the float model
    /// scores well and any change of its outputs can only move the mAP.
    static func groundTruth(_ model: SSDModel, images: PreparedImages, classes: [String]) -> GroundTruth {
        let detections = ModelScoring.detections(model, images: images)
        let objects = detections.map { list in
            list.sorted { $0.score > $1.score }.prefix(3).map { d in
                GroundTruthObject(classIndex: d.classIndex,
                                  box: PixelBox(xmin: Int((d.x1 + 1).rounded()), ymin: Int((d.y1 + 1).rounded()),
                                                xmax: Int((d.x2 + 1).rounded()), ymax: Int((d.y2 + 1).rounded())),
                                  difficult: false)
            }
        }
        return GroundTruth(classNames: classes, imageIDs: images.ids, objects: objects)
    }

    func testEightBitsHurtLessThanTwoBitsAndJSONShape() throws {
        let model = try SSDModel.load(contentsOf: Self.fixture).model
        let eval = Self.images(1, seed: 1), calib = Self.images(1, seed: 2)
        let truth = Self.groundTruth(model, images: eval, classes: (1..<model.classes).map { "class\($0)" })
        let layers = Array(model.convolutions.map(\.name).prefix(2))
        let runner = SensitivityRunner(model: model, evaluationImages: eval, groundTruth: truth, calibrationImages: calib,
                                       options: .init(bits: [2, 8], method: .rtn, threads: 2))
        let report = try runner.run(layers: layers)
        XCTAssertEqual(report.layers.map(\.name), layers)
        XCTAssertGreaterThan(report.mapFP32, 0)
        for layer in report.layers {
            XCTAssertEqual(layer.results.map(\.bits), [2, 8])
            let sqnr2 = try XCTUnwrap(layer.results[0].sqnrDB), sqnr8 = try XCTUnwrap(layer.results[1].sqnrDB)
            // 6 extra bits cut the weight error ~2^6 times: far more than 10 dB of output SQNR.
            XCTAssertGreaterThan(sqnr8, sqnr2 + 10, layer.name)
            XCTAssertLessThanOrEqual(layer.results[1].mapDrop, layer.results[0].mapDrop + 1e-12, layer.name)
            for r in layer.results {
                XCTAssertEqual(r.mapDrop, report.mapFP32 - r.map, accuracy: 1e-12)
                XCTAssert(r.map >= 0 && r.map <= 1 + 1e-9, "mAP \(r.map)")  // a mean of APs of 1 may round above 1
            }
            let unit = try XCTUnwrap(model.convolutions.first { $0.name == layer.name })
            XCTAssertEqual(layer.params, unit.conv.weight.count + (unit.conv.bias?.count ?? 0))
        }
        // The stem: 3x3 stride-2 conv, 300 -> 150, d = 3·3·3 = 27: MACs = 150·150·O·27.
        let stem = try XCTUnwrap(model.convolutions.first)
        XCTAssertEqual(report.layers[0].macs, 150 * 150 * stem.conv.outChannels * 27)

        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: SensitivityReportFiles.json(report)) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["layers", "map_fp32", "quantize"])
        XCTAssertEqual(json["quantize"] as? String, "weights")
        let first = try XCTUnwrap((json["layers"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(first.keys), ["name", "params", "macs", "results"])
        let result = try XCTUnwrap((first["results"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(result.keys), ["bits", "map", "map_drop", "sqnr_db"])

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sens-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try SensitivityReportFiles.write(report, settings: [("model", "fixture")], to: folder)
        for name in SensitivityReportFiles.fileNames {
            XCTAssert(FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path), name)
        }
        let csv = try String(contentsOf: folder.appendingPathComponent("sensitivity.csv"), encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 1 + 2 * 2)
        let html = try String(contentsOf: folder.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssert(html.contains("<svg") && html.contains(layers[0]))
    }

    /// Issue 7: on the tiny model, quantizing a layer at 8 bits drops the mAP strictly less than at 2 bits: the
    /// stem (backbone, resumed from the image) and source 0's class head (re-run alone over cached outputs).
    /// The 2-bit drops on these two images are large (> 0.1 mAP) and 8 bits is practically lossless (< 0.01).
    func testEightBitsDropMAPStrictlyLessThanTwoBits() throws {
        let model = try SSDModel.load(contentsOf: Self.fixture).model
        let eval = Self.images(2, seed: 1), calib = Self.images(1, seed: 2)
        let truth = Self.groundTruth(model, images: eval, classes: (1..<model.classes).map { "class\($0)" })
        let runner = SensitivityRunner(model: model, evaluationImages: eval, groundTruth: truth, calibrationImages: calib,
                                       options: .init(bits: [2, 8], method: .rtn, threads: 2))
        let report = try runner.run(layers: ["base_net.0.0", "classification_headers.0.3"])
        XCTAssertEqual(report.layers.count, 2)
        for layer in report.layers {
            let two = layer.results[0], eight = layer.results[1]
            XCTAssertEqual([two.bits, eight.bits], [2, 8])
            XCTAssertLessThan(eight.mapDrop, two.mapDrop, layer.name)
            XCTAssertGreaterThan(two.mapDrop, 0.1, layer.name)
            XCTAssertLessThan(eight.mapDrop, 0.01, layer.name)
        }
    }

    /// `--quantize activations`: only the layer's input goes on a per-tensor min-max grid of the calibration
    /// images at each width (weights float). Oracle: the whole model run from the image with that one grid as
    /// data (`InputQuantization`, the oneDNN program's fake quantization), no cache — same SQNR and mAP, for the
    /// stem (resumed from the image) and a class head (re-run alone over cached outputs). 8 bits beat 2 bits by
    /// far more than 10 dB; `both` quantizes weights too, so at 2 bits it is never better than either alone.
    func testActivationSensitivityMatchesAWholeModelOracle() throws {
        let model = try SSDModel.load(contentsOf: Self.fixture).model
        let eval = Self.images(2, seed: 41), calib = Self.images(2, seed: 42)
        let truth = Self.groundTruth(model, images: eval, classes: (1..<model.classes).map { "class\($0)" })
        let stats = try CalibrationStatistics.collect(model: model, images: calib, collectGrams: false)
        let layers = ["base_net.0.0", "classification_headers.0.3"]
        func report(_ what: SensitivityOperand) throws -> SensitivityReport {
            try SensitivityRunner(model: model, evaluationImages: eval, groundTruth: truth, calibrationImages: calib,
                                  ranges: stats.ranges, options: .init(bits: [2, 8], method: .rtn, threads: 2,
                                                                       quantize: what)).run(layers: layers)
        }
        let activations = try report(.activations)
        XCTAssertEqual(activations.quantize, .activations)
        let floatCalib = ModelScoring.headOutputs(model, images: calib)
        for layer in activations.layers {
            for r in layer.results {
                let quantizer = try XCTUnwrap(stats.ranges[layer.name]).quantizer(.minMax, bits: r.bits)
                let grid = InputQuantization([layer.name: quantizer.grid])
                let sqnr = ModelScoring.sqnr(reference: floatCalib,
                                             quantized: ModelScoring.headOutputs(model, images: calib, quantization: grid))
                XCTAssertEqual(try XCTUnwrap(r.sqnrDB), sqnr, accuracy: 0.01, "\(layer.name) @\(r.bits)")
                let map = ModelScoring.meanAP(ModelScoring.detections(model, images: eval, quantization: grid),
                                              groundTruth: truth)
                XCTAssertEqual(r.map, map, accuracy: 1e-6, "\(layer.name) @\(r.bits)")
            }
            XCTAssertGreaterThan(try XCTUnwrap(layer.results[1].sqnrDB), try XCTUnwrap(layer.results[0].sqnrDB) + 10)
        }
        let weights = try report(.weights), both = try report(.both)
        XCTAssertEqual(both.quantize, .both)
        for k in layers.indices {
            let b = try XCTUnwrap(both.layers[k].results[0].sqnrDB)
            XCTAssertLessThan(b, try XCTUnwrap(weights.layers[k].results[0].sqnrDB), layers[k])
            XCTAssertLessThan(b, try XCTUnwrap(activations.layers[k].results[0].sqnrDB), layers[k])
        }
        // Activations need the calibration ranges.
        XCTAssertThrowsError(try SensitivityRunner(model: model, evaluationImages: eval, groundTruth: truth,
                                                   calibrationImages: calib,
                                                   options: .init(bits: [8], quantize: .activations)).run(layers: layers))
        // A report from before the key existed reads as weights.
        let old = try JSONDecoder().decode(SensitivityReport.self, from: Data(#"{"layers":[],"map_fp32":0.5}"#.utf8))
        XCTAssertEqual(old.quantize, .weights)
    }

    /// SQNR by hand: y = (3, 4) (energy 25), ŷ = (3, 3.5) (noise 0.25): 10·log10(100) = 20 dB.
    func testSQNRArithmetic() {
        var a = HeadOutputs(priors: 1, classes: 0)
        a.locations = [3, 4, 0, 0]
        var b = a
        b.locations = [3, 3.5, 0, 0]
        XCTAssertEqual(ModelScoring.sqnr(reference: [a], quantized: [b]), 20, accuracy: 1e-9)
        XCTAssertEqual(ModelScoring.sqnr(reference: [a], quantized: [a]), .infinity)
    }

    /// RTN at 8 bits through the model-level loop equals the layer-level quantizer's reconstruction.
    func testLayerwiseQuantizerInstallsReconstructedWeights() throws {
        let model = try SSDModel.load(contentsOf: Self.fixture).model
        let unit = try XCTUnwrap(model.convolutions.dropFirst(2).first)
        let q = try LayerwiseQuantizer.quantize(model, layers: [unit.name], method: .rtn, bits: 8)
        let grid = try QuantGrid(bits: 8)
        let expected = try WeightQuantizer.quantize(weights: unit.conv.weight.data, channels: unit.conv.outChannels,
                                                    dimension: unit.conv.patchLength, grid: grid, method: .rtn)
        let installed = try XCTUnwrap(q.model.convolutions.first { $0.name == unit.name })
        XCTAssertEqual(installed.conv.weight.data, expected.reconstructed())
        XCTAssertEqual(installed.conv.bias, unit.conv.bias)
        XCTAssertEqual(q.accounting.averageWeightBits, 8)
        // Other layers untouched.
        XCTAssertEqual(q.model.convolutions[0].conv.weight, model.convolutions[0].conv.weight)
    }
}
