import Foundation
import XCTest

/// `mpq quantize` end to end on the small parity checkpoint (MobileNetV2 SSD-Lite, width 0.25, 2 classes +
/// background) with a dataset made of VOC2007 sample files 000003-000005: trainval = a000003...a000005,
/// test = b000003...b000005 (same pictures, other ids, so the splits do not overlap).
final class QuantizeCommandTests: XCTestCase {
    static let checkpoint = TestDataset.checkpoint

    private func dataset() throws -> URL { try makeTestDataset(splits: TestDataset.calibrationAndTest) }

    private func quantize(_ root: URL, _ extra: [String]) throws -> MPQRun {
        try runMPQ(["quantize", "--model", Self.checkpoint.path, "--voc-root", root.path, "--calib-images", "2",
                    "--threads", "1"] + extra, timeout: 600)
    }

    /// One multipoint run with evaluation and a saved file, then the refusals.
    func testMultipointReportFileAndRefusals() throws {
        let root = try dataset()
        let out = try temporaryFolder().appendingPathComponent("q.safetensors")
        let run = try quantize(root, ["--method", "multipoint", "--wbits", "4", "--avg-bits", "4.5", "--abits", "8",
                                      "--skip-layers", "first", "--evaluate", "--split", "test", "--limit", "2",
                                      "--json", "-", "--out", out.path])
        XCTAssertExit(run, 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any],
                                 run.stderr)
        XCTAssertEqual(Set(json.keys), ["method", "wbits", "abits", "avg_bits", "extra_macs", "model_bytes", "layers",
                                        "extra_weights", "mac_avg_bits", "map_before", "map_after", "map_before_ci95", "map_after_ci95",
                                        "delta_vs_fp32", "delta_ci95", "bootstrap"])
        let before = try XCTUnwrap(json["map_before"] as? Double), after = try XCTUnwrap(json["map_after"] as? Double)
        XCTAssertEqual(try XCTUnwrap(json["delta_vs_fp32"] as? Double), after - before, accuracy: 1e-12)
        for key in ["map_before_ci95", "map_after_ci95", "delta_ci95"] {
            let ci = try XCTUnwrap(json[key] as? [Double], key)
            XCTAssertEqual(ci.count, 2, key)
            XCTAssertLessThanOrEqual(ci[0], ci[1], key)
        }
        XCTAssertEqual((json["bootstrap"] as? [String: Any])?["images"] as? Int, 2, "--limit 2")
        XCTAssertTrue(run.stderr.contains("difference"), run.stderr)
        XCTAssertEqual(json["method"] as? String, "multipoint")
        XCTAssertEqual(json["wbits"] as? Int, 4)
        XCTAssertEqual(json["abits"] as? Int, 8)
        let avg = try XCTUnwrap(json["avg_bits"] as? Double)
        XCTAssertLessThanOrEqual(avg, 4.5 + 1e-9, "the budget is never exceeded")
        XCTAssertGreaterThanOrEqual(avg, 4.0, "one 4-bit point per channel at least")
        let extra = try XCTUnwrap(json["extra_weights"] as? Double)
        // Extra weights = (Σ points·d) / (Σ channels·d) - 1 = avg_bits / 4 - 1 (all layers on the same 4-bit grid);
        // extra MACs weight the layers by output positions: = mac_avg_bits / 4 - 1.
        XCTAssertEqual(extra, avg / 4 - 1, accuracy: 1e-9)
        let macBits = try XCTUnwrap(json["mac_avg_bits"] as? Double)
        XCTAssertEqual(try XCTUnwrap(json["extra_macs"] as? Double), macBits / 4 - 1, accuracy: 1e-9)
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertFalse(layers.isEmpty)
        var points = 0, weights = 0.0
        for layer in layers {
            XCTAssertEqual(Set(layer.keys), ["name", "channels", "points", "avg_bits", "rel_output_error"])
            let channels = try XCTUnwrap(layer["channels"] as? Int)
            let hist = try XCTUnwrap(layer["points"] as? [String: Int])
            XCTAssertEqual(hist.values.reduce(0, +), channels, "histogram counts sum to the channels")
            let layerPoints = hist.reduce(0) { $0 + (Int($1.key) ?? 0) * $1.value }
            XCTAssertEqual(try XCTUnwrap(layer["avg_bits"] as? Double), 4 * Double(layerPoints) / Double(channels),
                           accuracy: 1e-9)
            let err = try XCTUnwrap(layer["rel_output_error"] as? Double)
            XCTAssertTrue(err >= 0 && err < 1, "\(err)")
            points += layerPoints
            weights += Double(channels)
        }
        XCTAssertNotEqual(layers.first?["name"] as? String, nil)
        let mapBefore = try XCTUnwrap(json["map_before"] as? Double)
        let mapAfter = try XCTUnwrap(json["map_after"] as? Double)
        XCTAssertTrue(validMAP.contains(mapBefore) && validMAP.contains(mapAfter))
        XCTAssertTrue(run.stderr.contains("float"), run.stderr)

        // The file: codes, scales, points, shape, bias, act_range per quantized layer; metadata.
        let header = try safetensorsHeader(out)
        for layer in layers {
            let name = try XCTUnwrap(layer["name"] as? String)
            for suffix in ["codes", "scales", "points", "shape", "bias", "act_range"] {
                XCTAssertNotNil(header["\(name).\(suffix)"], "\(name).\(suffix)")
            }
            XCTAssertNil(header["\(name).weight"], "a quantized layer has no float weight")
            let codes = try XCTUnwrap(header["\(name).codes"] as? [String: Any])
            XCTAssertEqual(codes["dtype"] as? String, "U8", "format v2: codes packed at their width")
            let scales = try XCTUnwrap(header["\(name).scales"] as? [String: Any])
            let hist = try XCTUnwrap(layer["points"] as? [String: Int])
            let rows = hist.reduce(0) { $0 + (Int($1.key) ?? 0) * $1.value }
            XCTAssertEqual((scales["shape"] as? [Int])?.first, rows, "one scale per row, Σ n_c rows")
        }
        let floatWeights = header.keys.filter { $0.hasSuffix(".weight") }
        XCTAssertEqual(floatWeights.count, 1, "the skipped first conv stays float: \(floatWeights)")
        let metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
        XCTAssertEqual(metadata["format"], "mpq-quantized-v2")
        XCTAssertEqual(metadata["method"], "multipoint")
        XCTAssertEqual(metadata["wbits"], "4")
        XCTAssertEqual(metadata["abits"], "8")
        XCTAssertEqual(metadata["arch"], "mb2-ssd-lite")
        XCTAssertEqual(metadata["source_sha256"], try sha256sum(Self.checkpoint))
        // The file keeps its source's class names (the dataset's labels.txt) and preprocessing preset.
        XCTAssertEqual(metadata["class_names"], #"["car","chair"]"#)
        XCTAssertNotNil(metadata["preprocessing"])

        // `mpq detect` on the quantized file prints those names, not "class N"; --classes overrides them and a
        // list of the wrong length is refused with one line naming the file.
        let image = root.appendingPathComponent("JPEGImages/b000004.jpg").path
        let detected = try runMPQ(["detect", "--model", out.path, "--score-threshold", "0.01", "--json", "-", image])
        XCTAssertExit(detected, 0)
        let detections = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(detected.stdout.utf8))
            as? [[String: Any]])?.first?["detections"] as? [[String: Any]])
        XCTAssertFalse(detections.isEmpty, "at 0.01 the small model has candidates")
        for d in detections {
            let index = try XCTUnwrap(d["class_index"] as? Int)
            XCTAssertEqual(d["class"] as? String, ["car", "chair"][index])
        }
        let names = try temporaryFolder().appendingPathComponent("names.txt")
        try Data("# mine\nautomobile\nseat\n".utf8).write(to: names)
        let renamed = try runMPQ(["detect", "--model", out.path, "--classes", names.path, "--score-threshold", "0.01",
                                  "--json", "-", image])
        XCTAssertExit(renamed, 0)
        let renamedClasses = Set(((try JSONSerialization.jsonObject(with: Data(renamed.stdout.utf8)) as? [[String: Any]])?
            .first?["detections"] as? [[String: Any]] ?? []).compactMap { $0["class"] as? String })
        XCTAssertTrue(!renamedClasses.isEmpty && renamedClasses.isSubset(of: ["automobile", "seat"]), "\(renamedClasses)")
        try Data("car\n".utf8).write(to: names)
        let short = try runMPQ(["detect", "--model", out.path, "--classes", names.path, image])
        XCTAssertEqual(short.reason, .exit)
        XCTAssertNotEqual(short.status, 0)
        XCTAssertTrue(short.stderr.contains("\(names.path): 1 classes, but the model has 2"), short.stderr)

        // Save -> load: `mpq evaluate` of the file (weights Σ a·q, 8-bit activations from the saved ranges) gives
        // exactly the quantized model's mAP.
        let reloaded8 = try runMPQ(["evaluate", "--model", out.path, "--voc-root", root.path, "--split", "test",
                                    "--limit", "2", "--results", try temporaryFolder().path, "--json", "-",
                                    "--threads", "1"])
        XCTAssertExit(reloaded8, 0)
        let scores8 = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(reloaded8.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(scores8["mAP"] as? Double), mapAfter)

        // `mpq inspect`: per quantized layer the width, points (the report's histogram) and bytes stored.
        let inspected = try runMPQ(["inspect", out.path, "--json", "-"])
        XCTAssertExit(inspected, 0)
        let facts = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(facts["architecture"] as? String, "mb2-ssd-lite")
        let stored = try XCTUnwrap(facts["quantized_layers"] as? [[String: Any]])
        XCTAssertEqual(stored.map { $0["name"] as? String }, layers.map { $0["name"] as? String })
        for (s, l) in zip(stored, layers) {
            XCTAssertEqual(s["bits"] as? Int, 4)
            XCTAssertEqual(s["abits"] as? Int, 8)
            XCTAssertEqual(s["points"] as? [String: Int], l["points"] as? [String: Int])
            XCTAssertEqual(try XCTUnwrap(s["avg_bits"] as? Double), try XCTUnwrap(l["avg_bits"] as? Double), accuracy: 1e-9)
        }
        XCTAssertEqual(stored.reduce(0) { $0 + ($1["bytes"] as? Int ?? 0) }, facts["quantized_bytes"] as? Int)

        // The file on the int8 engine (the default) and on the simulated one: bench reports which ran, and the
        // integer steps are in the int8 program only.
        var kernels: [String: [String: Int]] = [:]
        for engine in ["int8", "simulated"] {
            let bench = try runMPQ(["bench", "--model", out.path, "--engine", engine, "--runs", "1", "--forward-only",
                                    "--threads", "1", "--json", "-"])
            XCTAssertExit(bench, 0)
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(report["engine"] as? String, engine)
            kernels[engine] = try XCTUnwrap(report["kernels"] as? [String: Int])
        }
        XCTAssertNotEqual(kernels["int8"], kernels["simulated"], "int8 convs pick oneDNN's integer kernels")
        XCTAssertTrue(kernels["int8"]?.keys.contains { $0.contains("int8") || $0.contains("vnni") } ?? false,
                      "\(kernels)")
        // int8 and simulated score the same images within a rank swap (exact integer sums vs float sums of the
        // same products; measured on the demo: docs/performance.md).
        var maps: [String: Double] = [:]
        for engine in ["int8", "simulated"] {
            let run = try runMPQ(["evaluate", "--model", out.path, "--engine", engine, "--voc-root", root.path,
                                  "--split", "test", "--results", try temporaryFolder().path, "--json", "-",
                                  "--threads", "1"])
            XCTAssertExit(run, 0)
            maps[engine] = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(run.stdout.utf8))
                as? [String: Any])?["mAP"] as? Double)
        }
        XCTAssertEqual(try XCTUnwrap(maps["int8"]), try XCTUnwrap(maps["simulated"]), accuracy: 0.02)

        // Calibration split = evaluation split, or sharing an id: refused with exit 64 (validation), not a signal.
        for calib in ["test", "overlap"] {
            let refused = try quantize(root, ["--method", "rtn", "--calib-split", calib, "--split", "test"])
            XCTAssertEqual(refused.reason, .exit, refused.stderr)
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.stderr.contains("must not come from the evaluation split"), refused.stderr)
        }
        // ... unless --allow-overlap. Weights only (--abits 32): the saved file, loaded by `mpq evaluate`, scores
        // exactly the quantized model's mAP (save -> load -> same detections).
        let out32 = try temporaryFolder().appendingPathComponent("rtn.safetensors")
        let allowed = try quantize(root, ["--method", "rtn", "--calib-split", "overlap", "--allow-overlap",
                                          "--abits", "32", "--evaluate", "--out", out32.path, "--json", "-"])
        XCTAssertExit(allowed, 0)
        let rtn = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(allowed.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(rtn["avg_bits"] as? Double, 4, "rtn: one 4-bit point per channel")
        let weightsOnly = try runMPQ(["bench", "--model", out32.path, "--runs", "1", "--forward-only", "--json", "-"])
        XCTAssertExit(weightsOnly, 0)
        XCTAssertTrue(weightsOnly.stderr.contains("activations are float (--abits 32)"), weightsOnly.stderr)
        XCTAssertTrue(weightsOnly.stdout.contains(#""engine" : "simulated""#), weightsOnly.stdout)
        let limitAlone = try quantize(root, ["--method", "rtn", "--limit", "2"])
        XCTAssertEqual(limitAlone.status, 64, limitAlone.stderr)
        XCTAssertTrue(limitAlone.stderr.contains("--limit sets how many images --evaluate or --diagnose score"), limitAlone.stderr)
        let reloaded = try runMPQ(["evaluate", "--model", out32.path, "--voc-root", root.path, "--split", "test",
                                   "--results", try temporaryFolder().path, "--json", "-", "--threads", "1"])
        XCTAssertExit(reloaded, 0)
        let scores = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(reloaded.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(scores["mAP"] as? Double), try XCTUnwrap(rtn["map_after"] as? Double))
        let noEval = try quantize(root, ["--method", "mse", "--abits", "32", "--json", "-"])
        XCTAssertExit(noEval, 0)
        let mse = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(noEval.stdout.utf8)) as? [String: Any])
        XCTAssertNil(mse["map_before"], "no mAP without --evaluate")
        XCTAssertEqual(mse["avg_bits"] as? Double, 4)

        // --avg-bits below --wbits: one clear line, non-zero exit.
        let bad = try quantize(root, ["--method", "multipoint", "--wbits", "4", "--avg-bits", "3.5"])
        XCTAssertEqual(bad.reason, .exit)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--avg-bits 3.5 is below --wbits 4"), bad.stderr)
        // --first-point only applies to multipoint.
        let firstPoint = try quantize(root, ["--method", "rtn", "--first-point", "mse"])
        XCTAssertEqual(firstPoint.reason, .exit)
        XCTAssertNotEqual(firstPoint.status, 0)
        XCTAssertTrue(firstPoint.stderr.contains("--first-point needs --method multipoint"), firstPoint.stderr)
        // --cost too; its values are listed.
        let cost = try quantize(root, ["--method", "rtn", "--cost", "macs"])
        XCTAssertNotEqual(cost.status, 0)
        XCTAssertTrue(cost.stderr.contains("--cost needs --method multipoint"), cost.stderr)
        let badCost = try quantize(root, ["--method", "multipoint", "--cost", "flops"])
        XCTAssertNotEqual(badCost.status, 0)
        XCTAssertTrue(badCost.stderr.contains("weights") && badCost.stderr.contains("macs"), badCost.stderr)
    }

    /// `--cost int8-time` against `--cost int8-macs` on the same model and budget: it charges one output pass per
    /// multipoint layer and a whole level per depthwise point level, so fewer layers get extra points, fewer
    /// depthwise layers (mb2-ssd-lite's `base_net.1.conv.0` and `base_net.N.conv.3`) among them, and those fill
    /// their levels (most of their channels get the level's point, which is free once the level is paid); the
    /// extra multiply-adds are fewer overall.
    func testInt8TimeCostSparesDepthwiseLayers() throws {
        let root = try dataset()
        var extraMACs: [String: Double] = [:], layersWithPoints: [String: Int] = [:]
        var depthwiseLayers: [String: Int] = [:], depthwiseFill: [String: [Double]] = [:]
        for cost in ["int8-macs", "int8-time"] {
            let run = try quantize(root, ["--method", "multipoint", "--wbits", "4", "--avg-bits", "4.25", "--abits", "8",
                                          "--cost", cost, "--json", "-"])
            XCTAssertExit(run, 0, cost)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            XCTAssertLessThanOrEqual(try XCTUnwrap(json["avg_bits"] as? Double), 8, cost)
            extraMACs[cost] = try XCTUnwrap(json["extra_macs"] as? Double)
            for layer in try XCTUnwrap(json["layers"] as? [[String: Any]]) {
                let name = try XCTUnwrap(layer["name"] as? String)
                let hist = try XCTUnwrap(layer["points"] as? [String: Int])
                let extra = hist.reduce(0) { $0 + ((Int($1.key) ?? 1) - 1) * $1.value }
                if extra > 0 { layersWithPoints[cost, default: 0] += 1 }
                let depthwise = name == "base_net.1.conv.0" || (name.hasPrefix("base_net.") && name.hasSuffix(".conv.3"))
                if depthwise && extra > 0 {
                    depthwiseLayers[cost, default: 0] += 1
                    let channels = try XCTUnwrap(layer["channels"] as? Int)
                    let levels = hist.keys.compactMap { Int($0) }.max() ?? 1
                    depthwiseFill[cost, default: []].append(Double(extra) / Double(channels * (levels - 1)))
                }
            }
        }
        print("int8-macs vs int8-time: extra MACs \(extraMACs), layers with extra points \(layersWithPoints), "
              + "depthwise ones \(depthwiseLayers), their level fill \(depthwiseFill)")
        XCTAssertGreaterThan(layersWithPoints["int8-time"] ?? 0, 0, "int8-time still gives points")
        XCTAssertLessThan(layersWithPoints["int8-time"] ?? 0, layersWithPoints["int8-macs"] ?? 0)
        XCTAssertLessThan(depthwiseLayers["int8-time"] ?? 0, depthwiseLayers["int8-macs"] ?? 0)
        XCTAssertLessThan(try XCTUnwrap(extraMACs["int8-time"]), try XCTUnwrap(extraMACs["int8-macs"]))
        for fill in depthwiseFill["int8-time"] ?? [] { XCTAssertGreaterThan(fill, 0.5, "a paid level is filled") }
    }

    /// ocs, mixed and gptq end to end: the JSON contract with values that follow each method's budget rule, the
    /// saved file (OCS input maps, mixed widths) and `mpq evaluate` of the file = quantize's `map_after`.
    func testOCSMixedAndGPTQReportSaveAndReload() throws {
        let root = try dataset()
        let folder = try temporaryFolder()
        for (method, budget) in [("ocs", 4.5), ("mixed", 3.5), ("gptq", 4.0)] {
            let out = folder.appendingPathComponent("\(method).safetensors")
            let run = try quantize(root, ["--method", method, "--wbits", "4", "--abits", "8", "--evaluate",
                                          "--json", "-", "--out", out.path]
                + (method == "gptq" ? [] : ["--avg-bits", "\(budget)"]))
            XCTAssertExit(run, 0, method)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any],
                                     run.stderr)
            XCTAssertEqual(Set(json.keys), ["method", "wbits", "abits", "avg_bits", "extra_macs", "model_bytes",
                                            "extra_weights", "mac_avg_bits", "layers", "map_before", "map_after", "map_before_ci95", "map_after_ci95",
                                            "delta_vs_fp32", "delta_ci95", "bootstrap"], method)
            XCTAssertEqual(json["method"] as? String, method)
            let avg = try XCTUnwrap(json["avg_bits"] as? Double)
            let extra = try XCTUnwrap(json["extra_weights"] as? Double)
            XCTAssertLessThanOrEqual(avg, budget + 1e-9, "\(method): the budget is never exceeded")
            let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
            let layerBits = try layers.map { try XCTUnwrap($0["avg_bits"] as? Double) }
            for layer in layers {
                let channels = try XCTUnwrap(layer["channels"] as? Int)
                XCTAssertEqual(layer["points"] as? [String: Int], ["1": channels], "one point per channel")
                let err = try XCTUnwrap(layer["rel_output_error"] as? Double)
                XCTAssertTrue(err >= 0 && err < 1, "\(method) \(err)")
            }
            let header = try safetensorsHeader(out)
            let metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
            XCTAssertEqual(metadata["method"], method)
            let maps = header.keys.filter { $0.hasSuffix(".input_map") }
            switch method {
            case "ocs":
                // Split layers hold 4·(C_in + s)/C_in bits and the extra MACs s/C_in; the depthwise ones stay at 4.
                XCTAssertGreaterThan(avg, 4)
                XCTAssertEqual(extra, avg / 4 - 1, accuracy: 1e-9)
                XCTAssertEqual(maps.count, layerBits.filter { $0 > 4 }.count)
                XCTAssertGreaterThan(maps.count, 3)
                XCTAssertTrue(layerBits.contains(4), "depthwise convs are not split")
            case "mixed":
                // Whole layers at one width each, from 2 to 8 bits, averaging at most 3.5 bits.
                XCTAssertEqual(extra, 0)
                XCTAssertGreaterThan(avg, 3)
                XCTAssertTrue(layerBits.allSatisfy { $0 == $0.rounded() && (2...8).contains($0) }, "\(layerBits)")
                XCTAssertGreaterThan(Set(layerBits).count, 1)
                XCTAssertEqual(metadata["layer_bits"], layerBits.map { "\(Int($0))" }.joined(separator: ","))
                XCTAssertTrue(maps.isEmpty)
            default:
                XCTAssertEqual(avg, 4)
                XCTAssertEqual(extra, 0)
                XCTAssertTrue(maps.isEmpty)
            }
            let mapAfter = try XCTUnwrap(json["map_after"] as? Double)
            let mapBefore = try XCTUnwrap(json["map_before"] as? Double)
            XCTAssertTrue(validMAP.contains(mapAfter) && validMAP.contains(mapBefore))
            let reloaded = try runMPQ(["evaluate", "--model", out.path, "--voc-root", root.path, "--split", "test",
                                       "--results", try temporaryFolder().path, "--json", "-", "--threads", "1"])
            XCTAssertExit(reloaded, 0, method)
            let scores = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(reloaded.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(try XCTUnwrap(scores["mAP"] as? Double), mapAfter, method)
        }
        // Budgets belong to the methods that spend them.
        let gptqBudget = try quantize(root, ["--method", "gptq", "--avg-bits", "4.5"])
        XCTAssertExit(gptqBudget, 64)
        XCTAssertTrue(gptqBudget.stderr.contains("--avg-bits needs --method multipoint, ocs or mixed"),
                      gptqBudget.stderr)
        let ocsError = try quantize(root, ["--method", "ocs", "--max-error", "0.01"])
        XCTAssertExit(ocsError, 64)
        XCTAssertTrue(ocsError.stderr.contains("--max-error needs --method multipoint"), ocsError.stderr)
        let badTable = try quantize(root, ["--method", "mixed", "--avg-bits", "3", "--sensitivity",
                                           "/nonexistent/sensitivity.json"])
        XCTAssertExit(badTable, 1)
        XCTAssertTrue(badTable.stderr.contains("/nonexistent/sensitivity.json"), badTable.stderr)
    }

    func testHelpNamesEveryMethodAndExamples() throws {
        let run = try runMPQ(["quantize", "--help"])
        XCTAssertExit(run, 0)
        // Help wraps at 80 columns: compare with runs of whitespace collapsed.
        let flat = run.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for text in ["(values: rtn, mse, multipoint, ocs, mixed, gptq, dfq, adaround, multipoint-adaround, "
                        + "multipoint-random; default: multipoint)", "--avg-bits <x>", "--sensitivity <file>",
                     "--abits <bits>", "embedded demo", "Examples:"] {
            XCTAssertTrue(flat.contains(text), "missing '\(text)' in:\n\(run.stdout)")
        }
    }

    /// The JSON header of a safetensors file (8-byte little-endian length, then the JSON).
    private func safetensorsHeader(_ url: URL) throws -> [String: Any] {
        let data = try Data(contentsOf: url)
        XCTAssertGreaterThan(data.count, 8)
        let length = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any])
    }

    /// The oracle: coreutils `sha256sum`.
    private func sha256sum(_ url: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
    }
}
