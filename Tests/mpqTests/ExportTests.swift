import Checkpoints
import Foundation
import SSD
import Imaging
import Tensors
import XCTest

/// `mpq export` checked by ONNX Runtime (a pinned onnx/onnxruntime in `.venv-tests`, Scripts/python-env.sh):
/// float exports of the four architectures equal `mpq detect --dump-raw`; the demo detector quantized at w8a8 RTN
/// and w4a8 multipoint 4.25 runs in ONNX Runtime with its quantized convs as integer kernels (ONNX Runtime's own
/// optimized model is saved and read) and scores equal to mpq's simulated engine; `.onnx` where a checkpoint is
/// expected, and files mpq cannot load, fail with one clear line and leave nothing behind.
final class ExportTests: XCTestCase {
    static let repositoryRoot = RepositoryFixtures.testsFolder.deletingLastPathComponent()
    static let torch = RepositoryFixtures.testsFolder.appendingPathComponent("SSDTests/Fixtures/parity/torch")
    static let vocImage = RepositoryFixtures.voc2007.appendingPathComponent("JPEGImages/000004.jpg")
    static let demoRoot = repositoryRoot.appendingPathComponent("VOCdevkit/MPQDemo")

    static func demoTestImages(_ n: Int) throws -> [URL] {
        let ids = try String(contentsOf: demoRoot.appendingPathComponent("ImageSets/Main/test.txt"), encoding: .utf8)
            .split(separator: "\n").prefix(n)
        return ids.map { demoRoot.appendingPathComponent("JPEGImages/\($0).jpg") }
    }

    /// The preprocessed `[1, 3, 300, 300]` input of `image` for `arch`, as a raw float32 file.
    func writeInput(_ image: URL, arch: Architecture, to url: URL) throws {
        let decoded = try JPEGDecoder.decode(fileAt: image)
        let input = preprocess(decoded, size: SSDModel.inputSize, preset: arch.preprocessing)
        try input.withUnsafeBytes { Data($0) }.write(to: url)
    }

    func floats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// `mpq detect --dump-raw` of `image`: (architecture, scores, boxes).
    func dumpRaw(model: String?, image: URL, engine: String? = nil, folder: URL) throws
        -> (arch: Architecture, scores: [Float], boxes: [Float]) {
        let raw = folder.appendingPathComponent("raw-\(UUID().uuidString).safetensors")
        var args = ["detect"] + (model.map { ["--model", $0] } ?? []) + ["--dump-raw", raw.path]
        if let engine { args += ["--engine", engine] }
        let run = try runMPQ(args + [image.path], timeout: 300)
        XCTAssertExit(run, 0)
        let dict = try SafeTensors.read(raw)
        let arch = try XCTUnwrap(dict.metadata["architecture"].flatMap(Architecture.init(rawValue:)))
        return (arch, try XCTUnwrap(dict["scores"]).floats(), try XCTUnwrap(dict["boxes"]).floats())
    }

    func export(_ model: String?, to url: URL, extra: [String] = []) throws -> MPQRun {
        let run = try runMPQ(["export"] + (model.map { ["--model", $0] } ?? []) + ["--out", url.path] + extra,
                             timeout: 300)
        XCTAssertExit(run, 0)
        return run
    }

    struct Job: Encodable {
        let model: String
        let inputs: [String]
        let out: String
        let optimized: String?
        /// Run the graph as written (ONNX Runtime's graph optimizations off: no QDQ fusion).
        var unoptimized = false
    }

    struct Report: Decodable {
        struct Model: Decodable {
            let model: String
            let outputs: [String: [Int]]
            let metadata: [String: String]
            let optimized_ops: [String: Int]?
            let conv_integer_weight_types: [String: Int]
        }
        let models: [Model]
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
    }

    func testFloatExportsOfEveryArchitectureEqualDetectDumpRaw() throws {
        let folder = try temporaryFolder()
        // (model file or nil for the embedded demo detector, image)
        let cases: [(String?, URL)] = [
            (Self.torch.appendingPathComponent("small-mb2-w0.25-c3.pth").path, Self.vocImage),
            (Self.torch.appendingPathComponent("small-mb1-c5.pth").path, Self.vocImage),
            (Self.torch.appendingPathComponent("small-vgg16-ssd-c6-fp16.pth").path, Self.vocImage),
            (Self.torch.appendingPathComponent("small-vgg16-ssd-l2norm-c3.pth").path, Self.vocImage),
            (Self.torch.appendingPathComponent("small-ssd300-c4.pth").path, Self.vocImage),
            (nil, try Self.demoTestImages(1)[0]),
        ]
        var jobs: [Job] = [], expected: [(arch: Architecture, scores: [Float], boxes: [Float])] = []
        for (i, (model, image)) in cases.enumerated() {
            let onnx = folder.appendingPathComponent("model-\(i).onnx")
            let run = try export(model, to: onnx)
            XCTAssertTrue(run.stdout.contains("float"), run.stdout)
            let reference = try dumpRaw(model: model, image: image, folder: folder)
            expected.append(reference)
            let input = folder.appendingPathComponent("input-\(i).f32")
            try writeInput(image, arch: reference.arch, to: input)
            jobs.append(Job(model: onnx.path, inputs: [input.path], out: folder.appendingPathComponent("ort-\(i)").path,
                            optimized: nil))
        }
        // The raw form of one model: its softmax is the post-processed scores.
        let rawModel = folder.appendingPathComponent("raw.onnx")
        _ = try export(cases[4].0, to: rawModel, extra: ["--no-postprocess", "--opset", "18"])
        jobs.append(Job(model: rawModel.path, inputs: [jobs[4].inputs[0]], out: folder.appendingPathComponent("ort-raw").path,
                        optimized: nil))

        let report = try runONNXPython(jobs, folder: folder)
        let architectures = Set(expected.map(\.arch))
        XCTAssertEqual(architectures, Set(Architecture.allCases), "every architecture exported")
        for (i, reference) in expected.enumerated() {
            let out = URL(fileURLWithPath: jobs[i].out)
            let scores = try floats(out.appendingPathComponent("input-\(i).scores.f32"))
            let boxes = try floats(out.appendingPathComponent("input-\(i).boxes.f32"))
            let ds = maxDifference(scores, reference.scores), db = maxDifference(boxes, reference.boxes)
            XCTAssertLessThan(ds, 1e-4, "\(reference.arch.rawValue) (case \(i)): max |Δscore|")
            XCTAssertLessThan(db, 1e-4, "\(reference.arch.rawValue) (case \(i)): max |Δbox|")
            print("export float \(reference.arch.rawValue) case \(i): max |Δscore| \(ds), max |Δbox| \(db)")
            let meta = report.models[i].metadata
            XCTAssertEqual(meta["mpq.architecture"], reference.arch.rawValue)
            XCTAssertNil(meta["mpq.quantization"], "a float export has no mpq.quantization")
            let classes = try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(meta["mpq.classes"]).utf8)) as? [String]
            XCTAssertEqual(classes?.count, reference.scores.count / (reference.boxes.count / 4))
            XCTAssertEqual(classes?.first, "background")
            let mean = try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(meta["mpq.mean"]).utf8)) as? [Double]
            let std = try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(meta["mpq.std"]).utf8)) as? [Double]
            let preset = reference.arch.preprocessing
            XCTAssertEqual(mean, [preset.mean.x, preset.mean.y, preset.mean.z].map(Double.init))
            XCTAssertEqual(std, [Double](repeating: Double(1 / preset.scale), count: 3))
            XCTAssertEqual(meta["mpq.channel_order"], "rgb")
            XCTAssertEqual(report.models[i].outputs["scores"], [1, reference.boxes.count / 4, classes?.count ?? 0])
        }
        // Raw outputs: softmax of the confidences equals the exported scores.
        let rawOut = URL(fileURLWithPath: jobs[6].out)
        let conf = try floats(rawOut.appendingPathComponent("input-4.confidences.f32"))
        let loc = try floats(rawOut.appendingPathComponent("input-4.locations.f32"))
        let classes = expected[4].scores.count / (expected[4].boxes.count / 4)
        XCTAssertEqual(report.models[6].outputs["locations"], [1, expected[4].boxes.count / 4, 4])
        var softmax = conf
        for p in 0..<(conf.count / classes) {
            let row = conf[(p * classes)..<((p + 1) * classes)], m = row.max() ?? 0
            let e = row.map { Foundation.exp($0 - m) }, s = e.reduce(0, +)
            for c in 0..<classes { softmax[p * classes + c] = e[c] / s }
        }
        XCTAssertLessThan(maxDifference(softmax, expected[4].scores), 1e-4)
        let decoded = Architecture.ssd300VGG16.boxDecoder.decode(locations: loc, priors: Architecture.ssd300VGG16.priors.centerForm)
        XCTAssertLessThan(maxDifference(decoded, expected[4].boxes), 1e-4)
    }

    /// The demo detector quantized (w8a8 RTN, w4a8 multipoint 4.25), exported in both forms. ConvInteger form:
    /// ONNX Runtime's optimized model runs every quantized conv as ConvInteger. QDQ form: it fuses exactly the
    /// convs the export predicts into QLinearConv (single-point convs whose output only the next quantized conv's
    /// QuantizeLinear reads) and runs no ConvInteger. Both forms' scores equal mpq's simulated engine.
    func testQuantizedDemoExportsRunAsIntegerConvsAndEqualSimulated() throws {
        let folder = try temporaryFolder()
        let images = try Self.demoTestImages(1)
        let methods: [(String, [String])] = [
            ("w8a8-rtn", ["--method", "rtn", "--wbits", "8", "--abits", "8"]),
            ("w4a8-mp425", ["--method", "multipoint", "--wbits", "4", "--avg-bits", "4.25", "--abits", "8"]),
        ]
        let forms = ["conv-integer", "qdq"]
        // On x86 CPUs without VNNI ONNX Runtime's u8 x s8 QLinearConv adds product pairs in 16 bits with saturation
        // (measured on AMD Zen 3, w8a8 QDQ with s8 weights: max |Δscore| 0.17, 603 of 21 000 scores off by more
        // than 1e-3), so there the QDQ form is exported with u8 weight codes (zero point 128), which it runs exactly
        // (u8 x u8 kernels widen first). oneDNN and ONNX Runtime read the same CPU flags.
        let qdqWeights = OneDNNProgram.hasVNNI ? "s8" : "u8"
        var jobs: [Job] = [], references: [[[Float]]] = [], counts: [(integer: Int, float: Int)] = []
        var variants: [(method: String, form: String)] = []
        for (name, flags) in methods {
            let file = folder.appendingPathComponent("\(name).safetensors").path
            let quantized = try runMPQ(["quantize"] + flags + ["--calib-images", "4", "--out", file, "--threads", "2"],
                                       timeout: 900)
            XCTAssertExit(quantized, 0)
            var inputs: [String] = [], scores: [[Float]] = []
            for (k, image) in images.enumerated() {
                let reference = try dumpRaw(model: file, image: image, engine: "simulated", folder: folder)
                let input = folder.appendingPathComponent("\(name)-input-\(k).f32")
                try writeInput(image, arch: reference.arch, to: input)
                inputs.append(input.path)
                scores.append(reference.scores)
            }
            for form in forms {
                let onnx = folder.appendingPathComponent("\(name).\(form).onnx")
                let run = try export(file, to: onnx,
                                     extra: ["--form", form] + (form == "qdq" ? ["--qdq-weights", qdqWeights] : []))
                let match = try XCTUnwrap(run.stdout.firstMatch(of: /(\d+) [A-Za-z ]*convs[A-Za-z ]*, (\d+) float/),
                                          run.stdout)
                counts.append((Int(match.1) ?? -1, Int(match.2) ?? -1))
                variants.append((name, form))
                references.append(scores)
                jobs.append(Job(model: onnx.path, inputs: inputs,
                                out: folder.appendingPathComponent("ort-\(name)-\(form)").path,
                                optimized: folder.appendingPathComponent("\(name).\(form).optimized.onnx").path))
            }
        }
        let report = try runONNXPython(jobs, folder: folder)
        for (m, (name, form)) in variants.enumerated() {
            let model = report.models[m]
            let quantization = try XCTUnwrap(model.metadata["mpq.quantization"])
            XCTAssertTrue(quantization.contains(name.hasSuffix("rtn") ? "\"rtn\"" : "\"multipoint\""), quantization)
            XCTAssertTrue(quantization.contains(form == "qdq" ? "\"QDQ\"" : "\"ConvInteger\""), quantization)
            XCTAssertTrue(quantization.contains("\"weight_codes\":\"\(form == "qdq" ? qdqWeights : "u8")\""),
                          quantization)
            let ops = try XCTUnwrap(model.optimized_ops)
            print("export \(name) \(form): ONNX Runtime optimized ops \(ops.sorted { $0.key < $1.key })")
            if form == "conv-integer" {
                // One integer conv per quantized layer, with u8 weight codes (zero point 128): ONNX Runtime's
                // ConvInteger is several times slower with s8.
                XCTAssertGreaterThan(counts[m].integer, 0)
                XCTAssertEqual(counts[m].float, 0)
                XCTAssertEqual(ops["ConvInteger"], counts[m].integer, "\(name): optimized ops \(ops)")
                XCTAssertEqual(model.conv_integer_weight_types, ["UINT8": counts[m].integer])
            } else {
                // The predicted QLinearConvs, the other quantized convs float Convs over the dequantized codes.
                XCTAssertEqual(ops["QLinearConv"] ?? 0, counts[m].integer, "\(name): optimized ops \(ops)")
                XCTAssertNil(ops["ConvInteger"])
                XCTAssertEqual((ops["Conv"] ?? 0) + (ops["FusedConv"] ?? 0), counts[m].float, "\(ops)")
                // Every quantized conv either way (forms are in the order conv-integer, qdq).
                XCTAssertEqual(counts[m].integer + counts[m].float, counts[m - 1].integer, "every quantized conv")
                if name.hasSuffix("rtn") {
                    // mb2-ssd-lite w8a8: 53 of 86 fuse (the others feed a residual Add or a head output).
                    XCTAssertGreaterThan(counts[m].integer, counts[m].float)
                }
            }
            var worst: Float = 0, total: Double = 0, count = 0, above: Int = 0
            for k in images.indices {
                let out = URL(fileURLWithPath: jobs[m].out)
                let scores = try floats(out.appendingPathComponent("\(name)-input-\(k).scores.f32"))
                XCTAssertEqual(scores.count, references[m][k].count)
                for (a, b) in zip(scores, references[m][k]) {
                    let d = abs(a - b)
                    worst = max(worst, d)
                    total += Double(d)
                    count += 1
                    if d > 1e-3 { above += 1 }
                }
            }
            print("export \(name) \(form) vs simulated: max |Δscore| \(worst), mean \(total / Double(count)), "
                  + "\(above) of \(count) above 1e-3")
            // Equal arithmetic up to float rounding, which moves a few activations across a grid boundary and
            // the next layers carry the flipped code on: mpq's own int8 engine differs from the simulated one the
            // same way (demo w4a8 multipoint 4.25, first test image: max 0.012, mean 2.0e-5, 0.26% above 1e-3;
            // ONNX Runtime here: max 0.016-0.028, mean 2.9e-5, 0.3% above 1e-3). The QDQ form's QLinearConvs
            // also round the bias to int32 (half an accumulator unit) and requantize in ONNX Runtime's own order.
            XCTAssertLessThan(total / Double(count), 1e-4, "\(name) \(form): mean |Δscore|")
            XCTAssertLessThan(worst, 0.05, "\(name) \(form): max |Δscore|")
            XCTAssertLessThan(Double(above), 0.01 * Double(count), "\(name) \(form): scores off by more than 1e-3")
        }
        // mAP on the first 24 demo test images: ONNX Runtime's detections (Scripts/onnx_map.py, scored by
        // mpq evaluate-detections) against mpq's simulated engine on the same images.
        for form in forms {
            let multipoint = folder.appendingPathComponent("w4a8-mp425")
            let (status, stdout, stderr) = try runProcess(try onnxPython(), [
                Self.repositoryRoot.appendingPathComponent("Scripts/onnx_map.py").path,
                "--onnx", multipoint.appendingPathExtension(form).appendingPathExtension("onnx").path,
                "--model", multipoint.appendingPathExtension("safetensors").path,
                "--limit", "24", "--mpq", try mpqBinaryURL().path, "--json"], timeout: 600)
            XCTAssertEqual(status, 0, stderr)
            let map = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
            let ort = try XCTUnwrap(map["onnxruntime_map"] as? Double), own = try XCTUnwrap(map["mpq_map"] as? Double)
            print("export w4a8-mp425 \(form), 24 demo test images: ONNX Runtime mAP \(ort), mpq simulated mAP \(own)")
            XCTAssertEqual(map["images"] as? Int, 24)
            XCTAssertGreaterThan(own, 0.8, "the quantized demo detector keeps its accuracy")
            XCTAssertEqual(ort, own, accuracy: 0.002, "\(form): within 0.2 mAP points")
        }
    }

    /// QDQ form of a VGG network (the small seeded vgg16-ssd with L2Norm, w8a8 RTN): a conv followed by ReLU and
    /// a max pool whose only reader is a quantized conv gets that reader's quantizer before the pool (exact: max
    /// commutes with the monotone quantization), so ONNX Runtime fuses it into QLinearConv too. Its optimized
    /// model holds exactly the predicted QLinearConvs, more than half of the convs. The QDQ graph as written (ONNX
    /// Runtime's optimizations off, no fusion) computes what the ConvInteger export computes, up to float rounding.
    /// This seeded network amplifies every code flipped at a grid boundary through its random layers (measured
    /// layer by layer on the fused model: 0.04% of the first fused conv's codes differ by one after QLinearConv's
    /// int32 bias rounding, a third of the last layers' codes; between the unfused QDQ graph and ConvInteger,
    /// mean |Δscore| 1e-6 to 1.3e-3 depending on the input's last bits), so only a gross error (a wrong scale or
    /// zero point moves every score) is checked here; the trained demo detector is held to the rounding bound
    /// (testQuantizedDemoExportsRunAsIntegerConvsAndEqualSimulated).
    func testQDQExportOfVGGFusesConvsBeforePools() throws {
        let folder = try temporaryFolder()
        let root = try makeTestDataset(splits: TestDataset.calibrationAndTest)
        let file = folder.appendingPathComponent("vgg-w8a8.safetensors").path
        XCTAssertExit(try runMPQ(["quantize", "--model", Self.torch.appendingPathComponent("small-vgg16-ssd-l2norm-c3.pth").path,
                                  "--voc-root", root.path, "--calib-images", "2", "--method", "rtn", "--wbits", "8",
                                  "--abits", "8", "--out", file, "--threads", "2"], timeout: 600), 0)
        let qdq = folder.appendingPathComponent("vgg-qdq.onnx"), integer = folder.appendingPathComponent("vgg-int.onnx")
        let run = try export(file, to: qdq)
        _ = try export(file, to: integer, extra: ["--form", "conv-integer"])
        let match = try XCTUnwrap(run.stdout.firstMatch(of: /(\d+) convs ONNX Runtime fuses to QLinearConv, (\d+) float/),
                                  run.stdout)
        let fused = Int(match.1) ?? -1, float = Int(match.2) ?? -1
        let input = folder.appendingPathComponent("vgg-input.f32")
        try writeInput(Self.vocImage, arch: .vgg16SSD, to: input)
        let jobs = [Job(model: qdq.path, inputs: [input.path], out: folder.appendingPathComponent("ort-qdq").path,
                        optimized: folder.appendingPathComponent("vgg.optimized.onnx").path),
                    Job(model: qdq.path, inputs: [input.path], out: folder.appendingPathComponent("ort-qdq-asis").path,
                        optimized: nil, unoptimized: true),
                    Job(model: integer.path, inputs: [input.path], out: folder.appendingPathComponent("ort-int").path,
                        optimized: nil)]
        let report = try runONNXPython(jobs, folder: folder)
        let ops = try XCTUnwrap(report.models[0].optimized_ops)
        print("export small vgg16-ssd w8a8 qdq: \(fused) fused, \(float) float; ONNX Runtime optimized ops "
              + "\(ops.sorted { $0.key < $1.key })")
        XCTAssertEqual(ops["QLinearConv"] ?? 0, fused, "\(ops)")
        XCTAssertEqual((ops["Conv"] ?? 0) + (ops["FusedConv"] ?? 0), float, "\(ops)")
        XCTAssertGreaterThan(fused, float, "the trunk fuses; the heads and the L2Norm source stay float")
        // 18 without quantizing before the pools (measured): the convs before pool1/2/3/5 fuse too.
        XCTAssertGreaterThanOrEqual(fused, 22)
        func scores(_ job: Job) throws -> [Float] {
            try floats(URL(fileURLWithPath: job.out).appendingPathComponent("vgg-input.scores.f32"))
        }
        let asWritten = try scores(jobs[1]), convInteger = try scores(jobs[2])
        XCTAssertEqual(asWritten.count, convInteger.count)
        let d = zip(asWritten, convInteger).map { abs($0 - $1) }
        let mean = d.reduce(0, +) / Float(d.count)
        print("export small vgg16-ssd w8a8: QDQ as written vs ConvInteger: max |Δscore| \(d.max() ?? -1), mean \(mean)")
        XCTAssertLessThan(mean, 0.01, "no gross error")
    }

    /// OCS (its input expansion as a Gather on the u8 codes) with the first layer kept float (`--skip-layers
    /// first`: one float Conv among the integer ones), and weight-only RTN (`--abits 32`: every conv a float Conv
    /// over the reconstructed weights, which is mpq's own float arithmetic, so the scores agree to float rounding).
    func testOCSAndWeightOnlyExports() throws {
        let folder = try temporaryFolder()
        let image = try Self.demoTestImages(1)[0]
        let methods: [(String, [String])] = [
            ("w4a8-ocs-skipfirst", ["--method", "ocs", "--wbits", "4", "--avg-bits", "4.5", "--abits", "8",
                                    "--skip-layers", "first"]),
            ("w4-rtn-float-acts", ["--method", "rtn", "--wbits", "4", "--abits", "32"]),
        ]
        var jobs: [Job] = [], references: [[Float]] = [], summaries: [(integer: Int, float: Int)] = []
        var ocsLayers = 0
        for (name, flags) in methods {
            let file = folder.appendingPathComponent("\(name).safetensors").path
            XCTAssertExit(try runMPQ(["quantize"] + flags + ["--calib-images", "4", "--out", file, "--threads", "2"],
                                     timeout: 900), 0)
            if name.contains("ocs") {
                let inspect = try runMPQ(["inspect", file, "--json", "-"])
                XCTAssertExit(inspect, 0)
                let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
                let layers = try XCTUnwrap(json["quantized_layers"] as? [[String: Any]])
                ocsLayers = layers.filter { $0["ocs"] as? Bool == true }.count
                XCTAssertGreaterThan(ocsLayers, 0, "OCS split some layer's input channels")
            }
            let onnx = folder.appendingPathComponent("\(name).onnx")
            let run = try export(file, to: onnx, extra: ["--form", "conv-integer"])
            let match = try XCTUnwrap(run.stdout.firstMatch(of: /(\d+) ConvInteger convs, (\d+) float/), run.stdout)
            summaries.append((Int(match.1) ?? -1, Int(match.2) ?? -1))
            let reference = try dumpRaw(model: file, image: image, engine: "simulated", folder: folder)
            let input = folder.appendingPathComponent("\(name)-input.f32")
            try writeInput(image, arch: reference.arch, to: input)
            references.append(reference.scores)
            jobs.append(Job(model: onnx.path, inputs: [input.path], out: folder.appendingPathComponent("ort-\(name)").path,
                            optimized: folder.appendingPathComponent("\(name).optimized.onnx").path))
        }
        let report = try runONNXPython(jobs, folder: folder)
        func scores(_ m: Int) throws -> [Float] {
            try floats(URL(fileURLWithPath: jobs[m].out).appendingPathComponent("\(methods[m].0)-input.scores.f32"))
        }

        // OCS: every quantized conv but the skipped first one is a ConvInteger in ONNX Runtime's optimized graph,
        // each split layer reads its expansion through a Gather, the first layer is a float Conv.
        XCTAssertEqual(summaries[0].float, 1, "--skip-layers first keeps one float conv")
        let ocsOps = try XCTUnwrap(report.models[0].optimized_ops)
        print("export w4a8 ocs: ONNX Runtime optimized ops \(ocsOps.sorted { $0.key < $1.key })")
        XCTAssertEqual(ocsOps["ConvInteger"], summaries[0].integer, "\(ocsOps)")
        XCTAssertGreaterThanOrEqual(ocsOps["Gather"] ?? 0, ocsLayers, "one input-expansion Gather per OCS layer")
        XCTAssertEqual((ocsOps["Conv"] ?? 0) + (ocsOps["FusedConv"] ?? 0), 1, "only the skipped layer is a float conv")
        let ocs = try scores(0)
        let d = zip(ocs, references[0]).map { abs($0 - $1) }
        let mean = d.reduce(0, +) / Float(d.count)
        print("export w4a8 ocs vs simulated: max |Δscore| \(d.max() ?? -1), mean \(mean), "
              + "\(d.filter { $0 > 1e-3 }.count) of \(d.count) above 1e-3")
        XCTAssertLessThan(mean, 1e-4)
        XCTAssertLessThan(d.max() ?? 1, 0.05)
        XCTAssertLessThan(Double(d.filter { $0 > 1e-3 }.count), 0.01 * Double(d.count))

        // Weight-only: no integer convs at all, and the scores equal the simulated engine's like a float export.
        XCTAssertEqual(summaries[1].integer, 0)
        XCTAssertGreaterThan(summaries[1].float, 0)
        let floatOps = try XCTUnwrap(report.models[1].optimized_ops)
        XCTAssertNil(floatOps["ConvInteger"], "\(floatOps)")
        XCTAssertNil(floatOps["QuantizeLinear"], "\(floatOps)")
        let weightOnly = maxDifference(try scores(1), references[1])
        print("export w4 rtn float activations vs simulated: max |Δscore| \(weightOnly)")
        XCTAssertLessThan(weightOnly, 1e-4)
        XCTAssertTrue(try XCTUnwrap(report.models[1].metadata["mpq.quantization"]).contains("weight-only"))
    }

    func testONNXWhereACheckpointIsExpectedSaysWhatMPQReads() throws {
        let folder = try temporaryFolder()
        let onnx = folder.appendingPathComponent("demo.onnx")
        _ = try export(Self.torch.appendingPathComponent("small-mb1-c5.pth").path, to: onnx)
        for args in [["detect", "--model", onnx.path, Self.vocImage.path],
                     ["evaluate", "--model", onnx.path, "--limit", "1"],
                     ["quantize", "--model", onnx.path, "--calib-images", "1"],
                     ["export", "--model", onnx.path, "--out", folder.appendingPathComponent("again.onnx").path]] {
            let run = try runMPQ(args)
            XCTAssertExit(run, 1, args[0])
            let errors = run.stderrLines.filter { $0.hasPrefix("Error:") }
            XCTAssertEqual(errors.count, 1, run.stderr)
            XCTAssertTrue(errors.first?.contains("\(onnx.path): an ONNX model") == true, run.stderr)
            XCTAssertTrue(errors.first?.contains("mpq export writes ONNX") == true, run.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("again.onnx").path))
    }

    func testExportOfABadFileFailsInOneLineAndWritesNothing() throws {
        let folder = try temporaryFolder()
        let bad = folder.appendingPathComponent("broken.pth")
        try Data("not a checkpoint at all".utf8).write(to: bad)
        let out = folder.appendingPathComponent("out/model.onnx")
        let run = try runMPQ(["export", "--model", bad.path, "--out", out.path])
        XCTAssertExit(run, 1)
        XCTAssertEqual(run.stderrLines.filter { $0.hasPrefix("Error:") }.count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("\(bad.path): not a PyTorch"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        let left = (try? FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("out").path)) ?? []
        XCTAssertEqual(left, [], "no temporary file left")

        let opset = try runMPQ(["export", "--model", bad.path, "--out", out.path, "--opset", "9"])
        XCTAssertExit(opset, 64)
        XCTAssertTrue(opset.stderr.contains("--opset must be between 13 and 21"), opset.stderr)
        // An existing output is replaced only by a complete file: a failed export leaves it as it was.
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("previous".utf8).write(to: out)
        XCTAssertExit(try runMPQ(["export", "--model", bad.path, "--out", out.path]), 1)
        XCTAssertEqual(try String(contentsOf: out, encoding: .utf8), "previous")
    }

    /// Ctrl-C while the file is being written (SIGINT raised inside the write, `MPQ_TEST_INTERRUPT_EXPORT_WRITE`):
    /// the write completes, then the process ends by SIGINT; the file is the complete export, no temporary left.
    func testCtrlCDuringTheWriteLeavesTheCompleteFileAndNoTemporary() throws {
        let folder = try temporaryFolder()
        let model = Self.torch.appendingPathComponent("small-mb1-c5.pth").path
        let reference = folder.appendingPathComponent("reference/model.onnx")
        _ = try export(model, to: reference)
        let out = folder.appendingPathComponent("out/model.onnx")
        var environment = ProcessInfo.processInfo.environment
        environment["MPQ_TEST_INTERRUPT_EXPORT_WRITE"] = "1"
        let run = try runMPQ(["export", "--model", model, "--out", out.path], environment: environment)
        XCTAssertEqual(run.reason, .uncaughtSignal, run.stderr)
        XCTAssertEqual(run.status, SIGINT)
        XCTAssertEqual(try Data(contentsOf: out), try Data(contentsOf: reference), "the complete export")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.deletingLastPathComponent().path),
                       ["model.onnx"], "no temporary left")
    }

    /// Runs Scripts/onnx_run.py on `jobs`.
    func runONNXPython(_ jobs: [Job], folder: URL) throws -> Report {
        let python = try onnxPython()
        let jobFile = folder.appendingPathComponent("jobs-\(UUID().uuidString).json")
        try JSONEncoder().encode(jobs).write(to: jobFile)
        let script = Self.repositoryRoot.appendingPathComponent("Scripts/onnx_run.py")
        let (status, stdout, stderr) = try runProcess(python, [script.path, jobFile.path], timeout: 600)
        guard status == 0 else {
            XCTFail("onnx_run.py failed (\(status)): \(stderr)")
            throw CocoaError(.executableLoad)
        }
        return try JSONDecoder().decode(Report.self, from: Data(stdout.utf8))
    }
}

/// The Python that has the pinned onnx and onnxruntime: `$MPQ_PYTHON`, else `<repo>/.venv-tests/bin/python`.
/// Missing is a failure (never a skip), with the command that fixes it.
func onnxPython() throws -> URL {
    if let explicit = ProcessInfo.processInfo.environment["MPQ_PYTHON"], !explicit.isEmpty {
        return URL(fileURLWithPath: explicit)
    }
    let venv = ExportTests.repositoryRoot.appendingPathComponent(".venv-tests/bin/python")
    if FileManager.default.isExecutableFile(atPath: venv.path) { return venv }
    XCTFail("no Python with onnx/onnxruntime: run Scripts/python-env.sh (creates .venv-tests) or set MPQ_PYTHON")
    throw CocoaError(.fileNoSuchFile)
}

/// Runs `executable` with `arguments`; output through temporary files, killed after `timeout` seconds.
func runProcess(_ executable: URL, _ arguments: [String], timeout: TimeInterval) throws
    -> (status: Int32, stdout: String, stderr: String) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-py-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let outURL = folder.appendingPathComponent("stdout"), errURL = folder.appendingPathComponent("stderr")
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    try process.run()
    if finished.wait(timeout: .now() + timeout) == .timedOut {
        process.terminate()
        finished.wait()
    }
    try out.close()
    try err.close()
    return (process.terminationStatus, String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}
