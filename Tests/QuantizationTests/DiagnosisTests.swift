import Foundation
@testable import Quantization
import SSD
import Tensors
import Evaluation
import XCTest

/// `mpq diagnose`'s engine (`DiagnosisRunner`, `Diagnosis.rank`, `DiagnosisFiles`) on the tiny mb2-ssd-lite
/// fixture (width 0.25, 3 classes, random weights) with synthetic images: SQNR by hand, a brute-force oracle
/// and bound for one layer, a deliberately broken layer, the variants' identities, the report files.
final class DiagnosisTests: XCTestCase {
    // MARK: - SQNR by hand

    /// y = (3, 4): energy 25; ŷ = (3, 3.5): noise 0.25 → 10·log10(100) = 20 dB. A second pair adds to both sums:
    /// y = (0, 5), ŷ = (0.5, 5): energy 25 + 25 = 50, noise 0.25 + 0.25 = 0.5 → 20 dB again; y = (1), ŷ = (0):
    /// 51 / 1.5 → 10·log10(34) = 15.3148 dB.
    func testSQNRSumByHand() {
        var s = SQNRSum()
        s.add(reference: [3, 4], quantized: [3, 3.5])
        XCTAssertEqual(s.db, 20, accuracy: 1e-12)
        s.add(reference: [0, 5], quantized: [0.5, 5])
        XCTAssertEqual(s.signal, 50)
        XCTAssertEqual(s.noise, 0.5)
        XCTAssertEqual(s.db, 20, accuracy: 1e-12)
        s.add(reference: [1], quantized: [0])
        XCTAssertEqual(s.db, 10 * log10(34), accuracy: 1e-12)
        XCTAssertEqual(s.db, 15.314789170422551, accuracy: 1e-9)

        // Equal tensors: the cap; no signal but noise: minus the cap; nothing at all: the cap.
        var equal = SQNRSum()
        equal.add(reference: [1, -2], quantized: [1, -2])
        XCTAssertEqual(equal.db, Diagnosis.sqnrCapDB)
        var silent = SQNRSum()
        silent.add(reference: [0, 0], quantized: [0, 1])
        XCTAssertEqual(silent.db, -Diagnosis.sqnrCapDB)
        XCTAssertEqual(SQNRSum().db, Diagnosis.sqnrCapDB)
    }

    // MARK: - Ranking and fixes

    private func layer(_ index: Int, _ name: String, alone: Double, weights: Double, activations: Double,
                       share: Double?, abits: Int? = 8, wbits: Int? = 4) -> Diagnosis.Layer {
        Diagnosis.Layer(index: index, name: name, wbits: wbits, abits: abits, points: wbits == nil ? nil : 1.25,
                        weights: 1000, weightShare: share, sqnrDB: 30, inputSQNRDB: 35, aloneSQNRDB: alone,
                        weightsAloneSQNRDB: weights, activationsAloneSQNRDB: activations)
    }

    /// Lowest own SQNR first (ties in execution order), float convs never listed, `top` respected; the fix rules:
    /// input grid worse than weights → higher_abits; small share or destroyed weights → keep_float; else
    /// more_points.
    func testRankOrdersByOwnSQNRAndPicksTheFix() {
        let layers = [
            layer(0, "a", alone: 25, weights: 26, activations: 40, share: 0.30),      // more_points
            layer(1, "b", alone: 12, weights: 30, activations: 12.5, share: 0.30),    // higher_abits
            layer(2, "float", alone: 1, weights: 1, activations: 1, share: nil, abits: nil, wbits: nil),
            layer(3, "c", alone: 8, weights: 8, activations: 50, share: 0.30),        // keep_float: destroyed
            layer(4, "d", alone: 25, weights: 25, activations: 60, share: 0.01),      // keep_float: small
            layer(5, "e", alone: 40, weights: 41, activations: 60, share: 0.09),
        ]
        let ranked = Diagnosis.rank(layers, top: 4)
        XCTAssertEqual(ranked.map(\.layer), ["c", "b", "a", "d"], "by alone SQNR, a before d (tie, earlier)")
        XCTAssertEqual(ranked.map(\.rank), [1, 2, 3, 4])
        XCTAssertEqual(ranked.map(\.fix), [.keepFloat, .higherAbits, .morePoints, .keepFloat])
        XCTAssertEqual(ranked.map(\.sqnrDB), [8, 12, 25, 25])
        XCTAssertTrue(ranked[0].suggestion.contains("under 10 dB"), ranked[0].suggestion)
        XCTAssertTrue(ranked[3].suggestion.contains("1.0% of the quantized weights"), ranked[3].suggestion)
        XCTAssertTrue(ranked[2].suggestion.contains("1.25 points per channel at 4 bits"), ranked[2].suggestion)
        XCTAssertTrue(ranked[1].evidence.hasPrefix("alone 12.0 dB (weights alone 30.0 dB with 4-bit weights, input "
            + "alone 12.5 dB"), ranked[1].evidence)
        XCTAssertEqual(Diagnosis.rank(layers, top: 10).count, 5, "the float conv is never a finding")
        XCTAssertEqual(Diagnosis.rank(layers, top: 0), [])
    }

    /// A diagnosis with only these variant mAPs (float first) and difference intervals.
    private func diagnosis(_ maps: [Double], deltas: [MAPBootstrap.Interval?]) -> Diagnosis {
        let variants = Diagnosis.Variant.names.indices.map { k in
            Diagnosis.Variant(name: Diagnosis.Variant.names[k], map: maps[k], mapCI95: nil,
                              deltaVsFP32: maps[k] - maps[0], deltaCI95: deltas[k])
        }
        return Diagnosis(method: "rtn", wbits: 4, abits: 8, engine: "int8", images: 10, sqnrImages: 2,
                         variants: variants, classes: [], heads: [], layers: [], whatBroke: [], bootstrap: nil)
    }

    /// The headline attributes a loss only when there is a significant one: float 0.80, quantized 0.70
    /// (significant): weights only 0.78 (−2 points), activations only 0.72 (−8 points) → the activations; class
    /// scores swapped in 0.71 (−9 points), boxes 0.79 (−1 point) → classification. Changes and intervals are
    /// both variant − float. A gain, or a loss whose
    /// interval holds 0, is attributed to nothing.
    func testHeadlineAttributesOnlyARealLoss() {
        let i = MAPBootstrap.Interval(lo: -0.12, hi: -0.08), zero = MAPBootstrap.Interval(lo: -0.05, hi: 0.01)
        let lines = DiagnosisFiles.headline(diagnosis([0.80, 0.70, 0.78, 0.72, 0.71, 0.79],
                                                      deltas: [nil, i, zero, i, i, zero]))
        XCTAssertEqual(lines, [
            "mAP 80.00 float, 70.00 quantized (-10.00 points, 95% [-12.00, -8.00], significant).",
            "Weights only -2.00 points, 95% [-5.00, 1.00], not significant, activations only -8.00, 95% "
                + "[-12.00, -8.00], significant: most of the loss comes from the activations.",
            "Quantized class scores with float boxes -9.00 points, 95% [-12.00, -8.00], significant, float scores "
                + "with quantized boxes -1.00, 95% [-5.00, 1.00], not significant: most of the loss comes from the "
                + "classification head.",
        ])
        let gain = DiagnosisFiles.headline(diagnosis([0.80, 0.81, 0.79, 0.80, 0.80, 0.80],
                                                     deltas: [nil, nil, nil, nil, nil, nil]))
        XCTAssertTrue(gain[1].hasSuffix("the quantized model lost nothing on these images, so there is no loss to "
            + "attribute."), gain[1])
        let noise = DiagnosisFiles.headline(diagnosis([0.80, 0.79, 0.79, 0.80, 0.80, 0.80],
                                                      deltas: [nil, zero, zero, zero, zero, zero]))
        XCTAssertTrue(noise[1].hasSuffix("the quantized model's loss is not significant on these images, so the "
            + "attribution is not either."), noise[1])
    }

    // MARK: - The runner on the tiny model

    static func fixtureModel() throws -> SSDModel { try SSDModel.load(contentsOf: SensitivityTests.fixture).model }

    /// The tiny model quantized by `options`, as a file and its network.
    static func quantized(_ model: SSDModel, calibration: PreparedImages, options: ModelQuantizationOptions) throws
        -> (file: QuantizedFile, model: SSDModel) {
        let stats = try CalibrationStatistics.collect(model: model, images: calibration, collectGrams: false)
        let q = try ModelQuantizer.quantize(model: model, statistics: stats, options: options)
        let file = q.file(method: options.method.rawValue, wbits: options.weightBits, abits: options.activationBits,
                          sourceSHA256: String(repeating: "0", count: 64), version: "test")
        return (file, q.model)
    }

    static func runner(float: SSDModel, quantized: (file: QuantizedFile, model: SSDModel), images: PreparedImages,
                       sqnrImages: Int) throws -> DiagnosisRunner {
        let truth = SensitivityTests.groundTruth(float, images: images, classes: (1..<float.classes).map { "c\($0)" })
        return try DiagnosisRunner(floatModel: float, quantizedModel: quantized.model, file: quantized.file,
                                   images: images, groundTruth: truth,
                                   options: .init(sqnrImages: sqnrImages, engine: .simulated, bootstrapResamples: 50,
                                                  seed: 7, top: 5))
    }

    /// `act(W ∗ x + b)` of one image `[1, C, H, W]`, by the definition (loops in Double, any stride, padding,
    /// dilation and groups).
    static func bruteForceConv(_ conv: Conv2D, weight: [Float], _ x: Tensor) -> [Double] {
        let c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let o = conv.outChannels, kh = conv.kernelH, kw = conv.kernelW, g = conv.groups
        let cg = c / g, og = o / g
        let oh = (h + 2 * conv.padding - conv.dilation * (kh - 1) - 1) / conv.stride + 1
        let ow = (w + 2 * conv.padding - conv.dilation * (kw - 1) - 1) / conv.stride + 1
        var y = [Double](repeating: 0, count: o * oh * ow)
        for oc in 0..<o {
            let group = oc / og
            for yi in 0..<oh {
                for xi in 0..<ow {
                    var s = Double(conv.bias?[oc] ?? 0)
                    for ic in 0..<cg {
                        let channel = group * cg + ic
                        for ky in 0..<kh {
                            let iy = yi * conv.stride - conv.padding + ky * conv.dilation
                            guard iy >= 0 && iy < h else { continue }
                            for kx in 0..<kw {
                                let ix = xi * conv.stride - conv.padding + kx * conv.dilation
                                guard ix >= 0 && ix < w else { continue }
                                s += Double(weight[((oc * cg + ic) * kh + ky) * kw + kx])
                                    * Double(x.data[(channel * h + iy) * w + ix])
                            }
                        }
                    }
                    switch conv.activation {
                    case .identity: break
                    case .relu: s = max(s, 0)
                    case .relu6: s = min(max(s, 0), 6)
                    }
                    y[(oc * oh + yi) * ow + xi] = s
                }
            }
        }
        return y
    }

    /// Weights only, 8-bit per-channel RTN, float activations. The stem conv reads the image itself, so its
    /// weights-alone SQNR can be recomputed by brute force (Double loops over the definition), and bounded:
    /// RTN moves each weight by at most half its channel's step s_c = max|w_c| / 127, so |Δy| ≤ (s_c / 2)·Σ|x|
    /// over the patch (ReLU6 is 1-Lipschitz) and SQNR ≥ 10·log10(Σ y² / Σ ((s_c / 2)·Σ|x|)²). Both agree with the
    /// runner; with float activations the activations-only variant is the float model and weights only is the
    /// quantized model, exactly.
    func testEightBitWeightsOnlyMatchesBruteForceAndBound() throws {
        let model = try Self.fixtureModel()
        let images = SensitivityTests.images(2, seed: 11), calib = SensitivityTests.images(1, seed: 12)
        let q = try Self.quantized(model, calibration: calib,
                                   options: .init(method: .rtn, weightBits: 8, activationBits: 32, threads: 2))
        let d = try Self.runner(float: model, quantized: q, images: images, sqnrImages: 1).run()

        let stemName = try XCTUnwrap(model.convolutions.first?.name)
        let floatConv = try XCTUnwrap(model.convolutions.first?.conv)
        let quantConv = try XCTUnwrap(q.model.convolutions.first { $0.name == stemName }?.conv)
        let x = images.inputs[0]
        let y = Self.bruteForceConv(floatConv, weight: floatConv.weight.data, x)
        let yq = Self.bruteForceConv(floatConv, weight: quantConv.weight.data, x)
        var signal = 0.0, noise = 0.0
        for i in y.indices { signal += y[i] * y[i]; noise += (yq[i] - y[i]) * (yq[i] - y[i]) }
        let exact = 10 * log10(signal / noise)

        // The bound: per output element (s_c / 2)·Σ|x| over its receptive field (zero padding adds nothing).
        let absConv = Conv2D(weight: Tensor(shape: floatConv.weight.shape,
                                        data: [Float](repeating: 1, count: floatConv.weight.count)),
                         bias: nil, stride: floatConv.stride, padding: floatConv.padding, dilation: floatConv.dilation,
                         groups: floatConv.groups)
        let patchSums = Self.bruteForceConv(absConv, weight: absConv.weight.data,
                                            Tensor(shape: x.shape, data: x.data.map { abs($0) }))
        let perChannel = floatConv.weight.count / floatConv.outChannels
        let positions = patchSums.count / floatConv.outChannels
        var noiseBound = 0.0
        for oc in 0..<floatConv.outChannels {
            let w = floatConv.weight.data[(oc * perChannel)..<((oc + 1) * perChannel)]
            let halfStep = Double(w.map { abs($0) }.max() ?? 0) / 127 / 2
            for p in 0..<positions { let e = halfStep * patchSums[oc * positions + p]; noiseBound += e * e }
        }
        let bound = 10 * log10(signal / noiseBound)

        let stem = try XCTUnwrap(d.layers.first)
        XCTAssertEqual(stem.name, stemName)
        XCTAssertEqual(stem.wbits, 8)
        XCTAssertNil(stem.abits, "float activations")
        XCTAssertEqual(stem.weightsAloneSQNRDB, exact, accuracy: 0.01)
        XCTAssertEqual(stem.aloneSQNRDB, stem.weightsAloneSQNRDB, "no input grid: alone = weights alone")
        XCTAssertEqual(stem.activationsAloneSQNRDB, Diagnosis.sqnrCapDB, "no input grid: exact")
        XCTAssertEqual(stem.inputSQNRDB, Diagnosis.sqnrCapDB, "the image is the same for both networks")
        XCTAssertEqual(stem.sqnrDB, stem.aloneSQNRDB, accuracy: 1e-9, "at the first conv accumulated = own")
        XCTAssertGreaterThan(exact, bound)
        XCTAssertGreaterThan(bound, 20, "8 bits leave a bound well above 20 dB")
        for l in d.layers where l.isQuantized {
            XCTAssertGreaterThan(l.weightsAloneSQNRDB, 25, "\(l.name): 8-bit weights")
            XCTAssertLessThan(l.weightsAloneSQNRDB, Diagnosis.sqnrCapDB, "\(l.name) changed")
        }

        let map = Dictionary(d.variants.map { ($0.name, $0.map) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(d.variants.map(\.name), Diagnosis.Variant.names)
        XCTAssertEqual(map["activations_only"], map["float"], "float weights, no grid: the float model")
        XCTAssertEqual(map["weights_only"], map["quantized"], "no grid: weights only is the quantized model")
        XCTAssertEqual(d.variant("activations_only")?.deltaVsFP32, 0)
        let heads = Dictionary(d.heads.map { ($0.variant, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(heads["activations_only"]?.classificationSQNRDB, Diagnosis.sqnrCapDB)
        XCTAssertEqual(heads["activations_only"]?.regressionSQNRDB, Diagnosis.sqnrCapDB)
        XCTAssertEqual(heads["weights_only"], .init(variant: "weights_only",
                                                    classificationSQNRDB: heads["quantized"]!.classificationSQNRDB,
                                                    regressionSQNRDB: heads["quantized"]!.regressionSQNRDB))
        XCTAssertLessThan(heads["quantized"]!.classificationSQNRDB, Diagnosis.sqnrCapDB)
        XCTAssertEqual(d.images, 2)
        XCTAssertEqual(d.sqnrImages, 1)
        XCTAssertEqual(d.bootstrap?.resamples, 50)
    }

    /// 8-bit weights and activations everywhere, then one mid-network conv broken on purpose (its weights
    /// negated in the quantized network): it ranks first with keep_float (its weights alone are destroyed), its
    /// own SQNR is far below every other layer's, and the error it causes shows downstream: the network's
    /// SQNR after it is no better than its own, while every layer before it is untouched by it.
    func testADeliberatelyBrokenLayerRanksFirst() throws {
        let model = try Self.fixtureModel()
        let images = SensitivityTests.images(2, seed: 21), calib = SensitivityTests.images(1, seed: 22)
        var q = try Self.quantized(model, calibration: calib,
                                   options: .init(method: .rtn, weightBits: 8, activationBits: 8, threads: 2))
        let reference = try Self.runner(float: model, quantized: q, images: images, sqnrImages: 1).run()
        let broken = model.convolutions[6]
        let unit = try XCTUnwrap(q.model.convolutions.first { $0.name == broken.name })
        try q.model.replaceConvolution(named: broken.name,
                                       weight: Tensor(shape: unit.conv.weight.shape, data: unit.conv.weight.data.map { -$0 }),
                                       bias: unit.conv.bias ?? [])
        let d = try Self.runner(float: model, quantized: q, images: images, sqnrImages: 1).run()

        let top = try XCTUnwrap(d.whatBroke.first)
        XCTAssertEqual(top.layer, broken.name)
        XCTAssertEqual(top.fix, .keepFloat)
        XCTAssertEqual(d.whatBroke.count, 5, "--top 5")
        let layer = try XCTUnwrap(d.layers.first { $0.name == broken.name })
        XCTAssertLessThan(layer.weightsAloneSQNRDB, Diagnosis.destroyedSQNRDB)
        XCTAssertEqual(top.sqnrDB, layer.aloneSQNRDB)
        for l in d.layers where l.isQuantized && l.name != broken.name {
            XCTAssertGreaterThan(l.aloneSQNRDB, layer.aloneSQNRDB + 10, l.name)
        }
        XCTAssertLessThanOrEqual(layer.sqnrDB, layer.aloneSQNRDB + 1)
        // Layers before the broken one see exactly what they saw without the break.
        for (a, b) in zip(d.layers.prefix(layer.index), reference.layers.prefix(layer.index)) {
            XCTAssertEqual(a, b, a.name)
        }
        // Unbroken, the 8-bit model's worst own SQNR is far above the broken layer's.
        XCTAssertGreaterThan(try XCTUnwrap(reference.whatBroke.first).sqnrDB, layer.aloneSQNRDB + 10)
        XCTAssertNotEqual(reference.whatBroke.first?.layer, broken.name)
        // The float-weights variant does not contain the break; the quantized and weights-only ones do.
        XCTAssertEqual(d.variant("activations_only"), reference.variant("activations_only"))
        let heads = Dictionary(d.heads.map { ($0.variant, $0) }, uniquingKeysWith: { a, _ in a })
        let before = Dictionary(reference.heads.map { ($0.variant, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertLessThan(heads["weights_only"]!.classificationSQNRDB, before["weights_only"]!.classificationSQNRDB)
    }

    /// The three files: JSON with the documented keys (and the values of the diagnosis), Markdown and HTML naming
    /// the worst layer, the HTML one self-contained file (inline SVG, no scripts, nothing fetched).
    func testReportFiles() throws {
        let model = try Self.fixtureModel()
        let images = SensitivityTests.images(1, seed: 31), calib = SensitivityTests.images(1, seed: 32)
        let q = try Self.quantized(model, calibration: calib,
                                   options: .init(method: .rtn, weightBits: 4, activationBits: 8, threads: 2))
        let d = try Self.runner(float: model, quantized: q, images: images, sqnrImages: 1).run()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("diag-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let urls = try DiagnosisFiles.write(d, settings: [("quantized model", "q.safetensors")], to: folder)
        XCTAssertEqual(urls.map(\.lastPathComponent), DiagnosisFiles.fileNames)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(),
                       DiagnosisFiles.fileNames.sorted(), "no temporary file left")

        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: urls[0])) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["method", "wbits", "abits", "engine", "images", "sqnr_images", "variants",
                                        "classes", "heads", "layers", "what_broke", "bootstrap", "sqnr_cap_db"])
        XCTAssertEqual(json["wbits"] as? Int, 4)
        XCTAssertEqual(json["abits"] as? Int, 8)
        XCTAssertEqual(json["engine"] as? String, "simulated")
        let variants = try XCTUnwrap(json["variants"] as? [[String: Any]])
        XCTAssertEqual(variants.compactMap { $0["name"] as? String }, Diagnosis.Variant.names)
        XCTAssertEqual(Set(variants[1].keys), ["name", "map", "map_ci95", "delta_vs_fp32", "delta_ci95"])
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, model.convolutions.count)
        XCTAssertEqual(Set(layers[0].keys), ["index", "name", "wbits", "abits", "points", "weights", "weight_share",
                                             "sqnr_db", "input_sqnr_db", "alone_sqnr_db", "weights_alone_sqnr_db",
                                             "activations_alone_sqnr_db"])
        let shares = layers.compactMap { $0["weight_share"] as? Double }
        XCTAssertEqual(shares.reduce(0, +), 1, accuracy: 1e-9, "every conv quantized: the shares add up to 1")
        let decoded = try JSONDecoder().decode(Diagnosis.self, from: Data(contentsOf: urls[0]))
        XCTAssertEqual(decoded, d, "the JSON holds the whole diagnosis")

        let worst = try XCTUnwrap(d.whatBroke.first?.layer)
        let md = try String(contentsOf: urls[1], encoding: .utf8)
        XCTAssertTrue(md.hasPrefix("# Quantization diagnosis\n"))
        XCTAssertTrue(md.contains("| 1 | `\(worst)` |"), md)
        XCTAssertTrue(md.contains("| quantized model | q.safetensors |"))
        let html = try String(contentsOf: urls[2], encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 3, "three inline charts")
        XCTAssertTrue(html.contains(worst))
        for banned in ["<script", "src=\"http", "href=\"http", "<link"] {
            XCTAssertFalse(html.contains(banned), banned)
        }
    }
}
