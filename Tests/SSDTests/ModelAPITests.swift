import Checkpoints
import Foundation
import Tensors
import XCTest
@testable import SSD

/// The hooks the quantizer relies on: conv list, weight replacement, input hooks; and thread-count determinism.
final class ModelAPITests: XCTestCase {
    /// A small torch-saved model and its first image: mb2 (3 classes) by default, mb1 (5 classes, fastest in debug
    /// builds) where the test does not depend on mb2's structure.
    func smallModel(_ name: String = "small-mb2-w0.25-c3") throws -> (SSDModel, Tensor) {
        try ParityFixtures.smallModel(name)
    }

    func testHookSeesEveryConvInExecutionOrderAndIdentityHookChangesNothing() throws {
        let (model, x) = try smallModel()
        var ws = SSDWorkspace(engine: .native)   // a hook runs natively: compare like with like
        let plain = model.forward(x, workspace: &ws)
        var seen: [String] = []
        var shapes: [String: [Int]] = [:]
        let hooked = model.forward(x, workspace: &ws) { name, input in
            seen.append(name)
            shapes[name] = input.shape
            return input
        }
        XCTAssertEqual(seen, model.convolutions.map(\.name))
        XCTAssertEqual(hooked, plain)
        // The stem sees the image; block 14's depthwise conv sees the 19x19 expansion output.
        XCTAssertEqual(shapes["base_net.0.0"], [1, 3, 300, 300])
        XCTAssertEqual(shapes["base_net.14.conv.3"], [1, 144, 19, 19])
        XCTAssertEqual(shapes["classification_headers.5"], [1, 8, 1, 1])
    }

    func testHookCanAlterInputs() throws {
        let (model, x) = try smallModel("small-mb1-c5")
        var ws = SSDWorkspace(engine: .native)
        let plain = model.forward(x, workspace: &ws)
        // Zeroing the input of the last box head (1x1 map): its 6 priors' offsets become its bias.
        let zeroed = model.forward(x, workspace: &ws) { name, input in
            name == "regression_headers.5" ? Tensor(zeros: input.shape) : input
        }
        let bias = try XCTUnwrap(model.convolutions.first { $0.name == "regression_headers.5" }?.conv.bias)
        XCTAssertEqual(Array(zeroed.locations.suffix(24)), bias)
        XCTAssertEqual(Array(zeroed.locations.prefix(2994 * 4)), Array(plain.locations.prefix(2994 * 4)))
        XCTAssertEqual(zeroed.confidences, plain.confidences)
    }

    func testReplaceConvolution() throws {
        var (model, x) = try smallModel("small-mb1-c5")
        var ws = SSDWorkspace()
        let before = model.forward(x, workspace: &ws)
        let unit = try XCTUnwrap(model.convolutions.first { $0.name == "classification_headers.5" })
        // Same weights: same outputs. Zero weights, bias b: the last 6 priors' logits (6 x 5 classes) become b.
        try model.replaceConvolution(named: unit.name, weight: unit.conv.weight, bias: try XCTUnwrap(unit.conv.bias))
        XCTAssertEqual(model.forward(x, workspace: &ws), before)
        let bias: [Float] = (0..<30).map { Float($0) }
        try model.replaceConvolution(named: unit.name, weight: Tensor(zeros: unit.conv.weight.shape), bias: bias)
        let after = model.forward(x, workspace: &ws)
        XCTAssertEqual(Array(after.confidences.suffix(30)), bias)
        XCTAssertEqual(Array(after.confidences.prefix(2994 * 5)), Array(before.confidences.prefix(2994 * 5)))
        XCTAssertThrowsError(try model.replaceConvolution(named: "nope", weight: unit.conv.weight, bias: bias)) {
            XCTAssertEqual($0 as? SSDModelError, .unknownConvolution(name: "nope"))
        }
        XCTAssertThrowsError(try model.replaceConvolution(named: unit.name, weight: Tensor(zeros: [30, 8, 1, 1]),
                                                          bias: bias))
    }

    /// Both engines: bit-identical for any thread count (oneDNN: convs whose split could change the sums are
    /// checked at compile time; these small-channel models have such a conv, a dilated 32 -> 64 on 19x19).
    func testOutputsIdenticalForAnyThreadCount() throws {
        for name in ["small-mb1-c5", "small-mb2-w0.25-c3", "small-ssd300-c4"] {
            let (model, x) = try smallModel(name)
            for engine in ForwardEngine.allCases {
                var ws = SSDWorkspace(engine: engine)
                Runtime.setThreads(1)
                let one = model.forward(x, workspace: &ws)
                Runtime.setThreads(3)
                let three = model.forward(x, workspace: &ws)
                Runtime.setThreads(2)
                let two = model.forward(x, workspace: &ws)
                XCTAssertEqual(ws.lastEngine, engine, name)
                XCTAssertEqual(one, three, "\(name) \(engine)")
                XCTAssertEqual(one, two, "\(name) \(engine)")
            }
        }
    }

    func testSafetensorsCopyOfATorchFileGivesTheSameOutputs() throws {
        let c = try ParityFixtures.testCase("small-ssd300-c4")
        let (dict, _) = try Checkpoint.load(try ParityFixtures.parity.appendingPathComponent(try XCTUnwrap(c.file)))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-ssd-\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write(dict, to: url)
        let (model, format) = try SSDModel.load(contentsOf: url)
        XCTAssertEqual(format, .safetensors)
        XCTAssertEqual(model.architecture, .ssd300VGG16)
        XCTAssertEqual(model.classes, 4)
        try ParityTests.check(c.name, source: try SafeTensors.read(url))
    }
}

/// Folded export (what a quantizer saves) loads back to the identical network.
final class FoldedExportTests: XCTestCase {
    func testFoldedExportRoundTripsForEveryArchitecture() throws {
        // mb2: BN after bias-free convs and after the heads' biased depthwise convs; vgg16-ssd: the source BN kept
        // as is; ssd300: L2Norm.
        for name in ["small-mb2-w0.25-c3", "small-vgg16-ssd-c6-fp16", "small-ssd300-c4"] {
            let c = try ParityFixtures.testCase(name)
            let (model, _) = try SSDModel.load(contentsOf: try ParityFixtures.parity.appendingPathComponent(try XCTUnwrap(c.file)))
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-folded-\(getpid()).safetensors")
            defer { try? FileManager.default.removeItem(at: url) }
            try SafeTensors.write(model.foldedStateDict(), to: url)
            let (reloaded, _) = try SSDModel.load(contentsOf: url)
            XCTAssertEqual(reloaded.architecture, model.architecture, name)
            XCTAssertEqual(reloaded.classes, model.classes, name)
            XCTAssertEqual(reloaded.convolutions.map(\.conv.weight), model.convolutions.map(\.conv.weight), name)
            XCTAssertEqual(reloaded.convolutions.map(\.conv.bias), model.convolutions.map(\.conv.bias), name)
            let image = try XCTUnwrap(try ParityFixtures.manifest().images.first)
            let x = try ParityFixtures.input(image, arch: model.architecture)
            var ws = SSDWorkspace()
            XCTAssertEqual(reloaded.forward(x, workspace: &ws), model.forward(x, workspace: &ws), name)
        }
    }
}
