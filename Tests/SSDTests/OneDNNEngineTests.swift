import Foundation
import Tensors
import XCTest
@testable import SSD

/// The oneDNN executor against our own kernels (both are checked against PyTorch in `ParityTests`), and when it
/// steps aside for the native one.
final class OneDNNEngineTests: XCTestCase {
    static let smallModels = ["small-mb1-c5", "small-mb2-w0.25-c3", "small-ssd300-c4", "small-vgg16-ssd-c6-fp16",
                              "small-vgg16-ssd-l2norm-c3"]

    static func outputs(_ model: SSDModel, _ x: Tensor, _ engine: ForwardEngine,
                        hook: ConvInputHook? = nil) -> (HeadOutputs, SSDWorkspace) {
        var ws = SSDWorkspace(engine: engine)
        let out = model.forward(x, workspace: &ws, hook: hook)
        return (out, ws)
    }

    /// Largest difference relative to the largest magnitude of the native outputs.
    static func relativeDifference(_ a: HeadOutputs, _ b: HeadOutputs) -> Float {
        let scale = max(1e-6, (a.confidences + a.locations).map(abs).max() ?? 0)
        return max(ParityFixtures.maxAbsDifference(a.confidences, b.confidences),
                   ParityFixtures.maxAbsDifference(a.locations, b.locations)) / scale
    }

    func testEnginesAgreeOnEverySmallModel() throws {
        for name in Self.smallModels {
            let (model, x) = try ParityFixtures.smallModel(name)
            let (native, nws) = Self.outputs(model, x, .native)
            let (fast, fws) = Self.outputs(model, x, .onednn)
            XCTAssertEqual(nws.lastEngine, .native, name)
            XCTAssertEqual(fws.lastEngine, .onednn, "\(name): \(fws.engineNote ?? "")")
            XCTAssertNil(fws.engineNote, name)
            XCTAssertNotEqual(native, HeadOutputs(priors: model.priors.count, classes: model.classes), name)
            let d = Self.relativeDifference(native, fast)
            XCTAssertLessThanOrEqual(d, 1e-5, name)
            // Every conv is one primitive (pools too); heads write their rows in place.
            XCTAssertGreaterThanOrEqual(fws.engineImplementations.count, model.convolutions.count, name)
            XCTAssertGreaterThan(fws.engineBytes, 0, name)
        }
    }

    /// oneDNN fixes each primitive's work split for the thread count it is built for; outputs must still not
    /// depend on it. Full-size networks (recipe weights, real image) built for 1, 2 and 3 threads.
    func testFullSizeOutputsIdenticalForAnyThreadCount() throws {
        let image = try XCTUnwrap(try ParityFixtures.manifest().images.first)
        for name in ["mb1-ssd", "mb2-ssd-lite", "vgg16-ssd", "ssd300-vgg16"] {
            let c = try ParityFixtures.testCase(name)
            let model = try SSDModel(loading: try WeightRecipe(url: ParityFixtures.parity.appendingPathComponent(
                try XCTUnwrap(c.recipe))), file: name)
            let x = try ParityFixtures.input(image, arch: model.architecture)
            var outputs: [HeadOutputs] = []
            for threads in [1, 2, 3] {
                Runtime.setThreads(threads)
                var ws = SSDWorkspace(engine: .onednn)
                outputs.append(model.forward(x, workspace: &ws))
                XCTAssertEqual(ws.lastEngine, .onednn, name)
            }
            Runtime.setThreads(2)
            XCTAssertEqual(outputs[0], outputs[1], "\(name): 1 vs 2 threads")
            XCTAssertEqual(outputs[0], outputs[2], "\(name): 1 vs 3 threads")
        }
    }

    func testHookRunsNatively() throws {
        let (model, x) = try ParityFixtures.smallModel("small-mb1-c5")
        var seen = 0
        let (hooked, ws) = Self.outputs(model, x, .onednn) { _, input in
            seen += 1
            return input
        }
        XCTAssertEqual(ws.lastEngine, .native)
        XCTAssertEqual(seen, model.convolutions.count)
        XCTAssertEqual(hooked, Self.outputs(model, x, .native).0)
    }

    /// A weight change after compiling recompiles (the workspace keys its program by the model's revision).
    func testRecompilesAfterWeightChange() throws {
        var (model, x) = try ParityFixtures.smallModel("small-mb2-w0.25-c3")
        var ws = SSDWorkspace(engine: .onednn)
        let before = model.forward(x, workspace: &ws)
        let unit = try XCTUnwrap(model.convolutions.first { $0.name == "regression_headers.5" })
        let bias: [Float] = (0..<unit.conv.outChannels).map { Float($0) - 3 }
        try model.replaceConvolution(named: unit.name, weight: Tensor(zeros: unit.conv.weight.shape), bias: bias)
        let after = model.forward(x, workspace: &ws)
        XCTAssertEqual(ws.lastEngine, .onednn)
        XCTAssertEqual(Array(after.locations.suffix(bias.count)), bias)
        XCTAssertEqual(Array(after.locations.dropLast(bias.count)), Array(before.locations.dropLast(bias.count)))
        XCTAssertEqual(after.confidences, before.confidences)
        // An earlier model value still runs its own weights in the same workspace.
        let (original, _) = try ParityFixtures.smallModel("small-mb2-w0.25-c3")
        XCTAssertEqual(original.forward(x, workspace: &ws), before)
    }

    /// A channel-split (OCS) conv reads a gathered input: the native engine runs it, and says why.
    func testChannelSplitModelRunsNatively() throws {
        var (model, x) = try ParityFixtures.smallModel("small-mb1-c5")
        let unit = try XCTUnwrap(model.convolutions.first { $0.conv.groups == 1 && $0.conv.kernelH == 1 })
        let c = unit.conv.inChannels, k = unit.conv.kernelH * unit.conv.kernelW, o = unit.conv.outChannels
        // Channel 0 split in two halves: the same function.
        var w = [Float](repeating: 0, count: o * (c + 1) * k)
        for oc in 0..<o {
            for ic in 0..<c {
                for t in 0..<k { w[(oc * (c + 1) + ic) * k + t] = unit.conv.weight.data[(oc * c + ic) * k + t] }
            }
            for t in 0..<k {
                w[(oc * (c + 1)) * k + t] *= 0.5
                w[(oc * (c + 1) + c) * k + t] = w[(oc * (c + 1)) * k + t]
            }
        }
        let reference = Self.outputs(model, x, .native).0
        try model.splitInputChannels(named: unit.name, weight: Tensor(shape: [o, c + 1, 1, 1], data: w),
                                     bias: try XCTUnwrap(unit.conv.bias ?? [Float](repeating: 0, count: o)),
                                     inputChannelMap: Array(0..<c) + [0])
        let (split, ws) = Self.outputs(model, x, .onednn)
        XCTAssertEqual(ws.lastEngine, .native)
        XCTAssertTrue(ws.engineNote?.contains("OCS") ?? false, ws.engineNote ?? "no note")
        XCTAssertLessThanOrEqual(Self.relativeDifference(reference, split), 1e-5)
    }
}
