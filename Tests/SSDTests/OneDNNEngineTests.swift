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
            // With and without the Winograd 3x3 convs (the AVX2 default), where this CPU can run them.
            for winograd in OneDNNProgram.winogradSupported ? [false, true] : [false] {
                var outputs: [HeadOutputs] = []
                for threads in [1, 2, 3] {
                    Runtime.setThreads(threads)
                    var ws = SSDWorkspace(engine: .onednn, winograd: winograd)
                    outputs.append(model.forward(x, workspace: &ws))
                    XCTAssertEqual(ws.lastEngine, .onednn, name)
                }
                Runtime.setThreads(2)
                XCTAssertEqual(outputs[0], outputs[1], "\(name) winograd \(winograd): 1 vs 2 threads")
                XCTAssertEqual(outputs[0], outputs[2], "\(name) winograd \(winograd): 1 vs 3 threads")
            }
        }
    }

    /// Workspaces are values: a copy compiles its own program, so the two never share buffers.
    func testCopiedWorkspaceGetsItsOwnProgram() throws {
        let (model, x) = try ParityFixtures.smallModel("small-mb1-c5")
        var a = SSDWorkspace(engine: .onednn)
        let first = model.forward(x, workspace: &a)
        var b = a
        XCTAssertTrue(a.compiledForward === b.compiledForward)
        let second = model.forward(x, workspace: &b)
        XCTAssertFalse(a.compiledForward === b.compiledForward)
        XCTAssertEqual(first, second)
        XCTAssertEqual(model.forward(x, workspace: &a), first)
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

/// Conv input fake quantization as data: the buffer form (C, vectorised) equals the scalar formula bit for bit, and the oneDNN
/// engine runs it like the native hook.
final class InputQuantizationTests: XCTestCase {
    func testVectorFormEqualsScalarFormBitForBit() {
        var rng = SystemRandomNumberGenerator()
        for grid in [InputQuantization.Grid(scale: 0.0371, qmin: 0, qmax: 255),
                     InputQuantization.Grid(scale: 0.25, qmin: -127, qmax: 127),
                     InputQuantization.Grid(scale: 1, qmin: -7, qmax: 7),
                     InputQuantization.Grid(scale: 0, qmin: 0, qmax: 255)] {
            var x: [Float] = (0..<1000).map { _ in Float.random(in: -12...12, using: &rng) }
            // Ties, both signs, exactly representable: (k + 0.5) * scale for a power-of-two scale.
            x += (-20...20).map { (Float($0) + 0.5) * grid.scale }
            x += [0, -0.0, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                  Float(1 << 24), -Float(1 << 24) - 2, 0.49999997, -0.49999997, 0.5, -0.5, 1.5, 2.5, -2.5,
                  .leastNonzeroMagnitude, grid.scale * 127.5, grid.scale * 255.5]
            for count in [x.count, 17, 15, 1] {
                var y = [Float](repeating: .nan, count: count)
                x.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        grid.apply(xb.baseAddress!, yb.baseAddress!, count: count)
                    }
                }
                for i in 0..<count {
                    XCTAssertEqual(y[i].bitPattern, grid.apply(x[i]).bitPattern, "\(grid) x = \(x[i])")
                }
            }
        }
    }

    func testOneDNNEngineRunsInputQuantizationLikeTheNativeHook() throws {
        for name in ["small-mb2-w0.25-c3", "small-ssd300-c4"] {
            let (model, x) = try ParityFixtures.smallModel(name)
            // 4-bit grids on every conv input, clipped at a fixed range: a coarse quantization that changes the
            // outputs a lot, so a conv that skipped it would show.
            let grids = Dictionary(uniqueKeysWithValues: model.convolutions.map {
                ($0.name, InputQuantization.Grid(scale: 0.5, qmin: -7, qmax: 7))
            })
            let q = InputQuantization(grids)
            let float = OneDNNEngineTests.outputs(model, x, .native).0
            let (native, _) = OneDNNEngineTests.outputs(model, x, .native, hook: q.hook)
            var ws = SSDWorkspace(engine: .onednn)
            let fast = model.forward(x, workspace: &ws, quantization: q)
            XCTAssertEqual(ws.lastEngine, .onednn, name)
            XCTAssertGreaterThan(OneDNNEngineTests.relativeDifference(float, native), 1e-2, name)
            // The engines' float convs differ in the last bits; a quantization step can flip where a value sits
            // on a rounding boundary, so the bound is looser than for float outputs.
            let d = OneDNNEngineTests.relativeDifference(native, fast)
            XCTAssertLessThanOrEqual(d, 1e-3, name)
            print("input quantization \(name): oneDNN vs native \(d)")
            // The same quantization through the native engine's `quantization:` parameter is the hook exactly.
            var nws = SSDWorkspace(engine: .native)
            XCTAssertEqual(model.forward(x, workspace: &nws, quantization: q), native, name)
        }
    }
}
