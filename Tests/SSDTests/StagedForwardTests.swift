import Foundation
import Tensors
import XCTest
@testable import SSD

/// The staged forward pass (`SSDModel.stages`, `startState`, `advance`, `resume`, `rerunHeads`) against the plain
/// `forward`, on the small torch-saved fixtures of all four architectures (both VGG16 source normalisations).
final class StagedForwardTests: XCTestCase {
    static let fixtures = ["small-mb2-w0.25-c3", "small-mb1-c5", "small-vgg16-ssd-c6-fp16", "small-vgg16-ssd-l2norm-c3",
                           "small-ssd300-c4"]

    func testStagesPartitionTheConvolutionsInExecutionOrder() throws {
        for name in Self.fixtures {
            let (model, x) = try ParityFixtures.smallModel(name)
            let stages = model.stages
            XCTAssertEqual(stages.flatMap(\.convolutions), model.convolutions.map(\.name), name)
            XCTAssertEqual(stages.compactMap(\.headSource), Array(0..<6), name)
            for (k, stage) in stages.enumerated() {
                XCTAssertFalse(stage.convolutions.isEmpty, "\(name) stage \(k)")
                for conv in stage.convolutions { XCTAssertEqual(model.stage(ofConvolution: conv), k, conv) }
            }
            XCTAssertNil(model.stage(ofConvolution: "nope"))
            // Each stage runs exactly its own convs: the hook of `advance` sees them, in order.
            var state = model.startState(x)
            var ws = SSDWorkspace(engine: .native)
            for k in stages.indices {
                var seen: [String] = []
                model.advance(&state, to: k + 1, workspace: &ws) { conv, input in
                    seen.append(conv)
                    return input
                }
                XCTAssertEqual(seen, stages[k].convolutions, "\(name) stage \(k)")
                XCTAssertEqual(state.stage, k + 1)
            }
            XCTAssertEqual(state.outputs, model.forward(x, workspace: &ws), name)
        }
        // mb2-ssd-lite: block 14 is split around its expansion, whose output feeds the first heads.
        let mb2 = try ParityFixtures.smallModel("small-mb2-w0.25-c3").0
        let k = try XCTUnwrap(mb2.stage(ofConvolution: "base_net.14.conv.0"))
        XCTAssertEqual(mb2.stages[k].convolutions, ["base_net.14.conv.0"])
        XCTAssertEqual(mb2.stages[k + 1].headSource, 0)
        XCTAssertEqual(mb2.stages[k + 2].convolutions, ["base_net.14.conv.3", "base_net.14.conv.6"])
        // VGG: one base conv per stage, pools carried by the conv before them except pool4 (after the source).
        let vgg = try ParityFixtures.smallModel("small-vgg16-ssd-c6-fp16").0
        XCTAssertEqual(vgg.stages.filter { $0.headSource == nil }.prefix(15).map(\.convolutions), VGGBase.layout.indices
            .filter { ["C", "C6", "C7"].contains(VGGBase.layout[$0]) }.map { ["base_net.\($0)"] })
        XCTAssertEqual(VGGBase.convRanges.first, 0..<2)
        XCTAssertEqual(VGGBase.convRanges[1], 2..<5)
        XCTAssertEqual(VGGBase.convRanges[9], 21..<23)
        XCTAssertEqual(VGGBase.convRanges[10], 23..<26)
        XCTAssertEqual(VGGBase.convRanges.last, 33..<35)
    }

    /// For every stage `k` of every network: resuming the float state before `k` gives `forward`'s outputs bit for
    /// bit; with the first conv of stage `k` changed, resuming the same float state gives the changed model's
    /// `forward`, and for a head stage so does re-running only those heads over the float outputs.
    func testResumeMobileNetV2SSDLite() throws { try Self.checkResume("small-mb2-w0.25-c3") }
    func testResumeMobileNetV1SSD() throws { try Self.checkResume("small-mb1-c5") }
    func testResumeVGG16SSD() throws { try Self.checkResume("small-vgg16-ssd-c6-fp16") }
    /// Its stages are the c6 model's but for the source normalisation: check the stages around heads 0.
    func testResumeVGG16SSDScaledL2Norm() throws {
        try Self.checkResume("small-vgg16-ssd-l2norm-c3") { $0.headSource == 0 || $0.convolutions == ["base_net.21"] }
    }
    func testResumeSSD300() throws { try Self.checkResume("small-ssd300-c4") }

    /// The same on the oneDNN engine: its states hold NHWC, its programs run stage ranges, and a forward pass split
    /// anywhere gives the unsplit pass's bits.
    func testResumeOnOneDNNEveryNetwork() throws {
        for name in Self.fixtures { try Self.checkResume(name, engine: .onednn) }
    }

    /// States move between engines: a native state resumes on oneDNN and a oneDNN (NHWC) state natively, each
    /// giving the target engine's outputs within float noise.
    func testStatesCrossEngines() throws {
        for name in ["small-mb2-w0.25-c3", "small-ssd300-c4"] {
            let (model, x) = try ParityFixtures.smallModel(name)
            var native = SSDWorkspace(engine: .native), fast = SSDWorkspace(engine: .onednn)
            let reference = model.forward(x, workspace: &native)
            let k = model.stages.count / 2
            var a = model.startState(x), b = model.startState(x)
            model.advance(&a, to: k, workspace: &native)
            model.advance(&b, to: k, workspace: &fast)
            XCTAssertEqual(a.layout, .nchw)
            XCTAssertEqual(b.layout, .nhwc)
            XCTAssertEqual(a.current.shape, b.current.shape)
            XCTAssertEqual(b.nchwCurrent.data.count, a.current.count)
            XCTAssertLessThanOrEqual(ParityFixtures.maxAbsDifference(a.current.data, b.nchwCurrent.data),
                                     1e-4 * (a.current.data.map(abs).max() ?? 1), name)
            var out = HeadOutputs(priors: 0, classes: 0)
            model.resume(a, into: &out, workspace: &fast)
            XCTAssertEqual(fast.lastEngine, .onednn)
            XCTAssertLessThanOrEqual(OneDNNEngineTests.relativeDifference(reference, out), 1e-5, name)
            model.resume(b, into: &out, workspace: &native)
            XCTAssertEqual(native.lastEngine, .native)
            XCTAssertLessThanOrEqual(OneDNNEngineTests.relativeDifference(reference, out), 1e-5, name)
        }
    }

    static func checkResume(_ name: String, engine: ForwardEngine = .native,
                            where selected: (ForwardStage) -> Bool = { _ in true }) throws {
        let (model, x) = try ParityFixtures.smallModel(name)
        var ws = SSDWorkspace(engine: engine)
        let full = model.forward(x, workspace: &ws)
        var state = model.startState(x)
        var out = HeadOutputs(priors: 0, classes: 0)
        for (k, stage) in model.stages.enumerated() where selected(stage) {
            model.advance(&state, to: k, workspace: &ws)
            let before = state.current
            model.resume(state, into: &out, workspace: &ws)
            XCTAssertEqual(ws.lastEngine, engine, "\(name) \(ws.engineNote ?? "")")
            XCTAssertEqual(state.layout, engine == .onednn && k > 0 ? .nhwc : .nchw, name)
            XCTAssertEqual(out, full, "\(name): resume from stage \(k)")

            let changed = try Self.changing(model, conv: stage.convolutions[0])
            let expected = changed.forward(x, workspace: &ws)
            XCTAssertNotEqual(expected, full, "\(name): changing \(stage.convolutions[0]) must matter")
            changed.resume(state, into: &out, workspace: &ws)
            XCTAssertEqual(out, expected, "\(name): resume from stage \(k) with \(stage.convolutions[0]) changed")
            if stage.headSource != nil {
                changed.rerunHeads(state, completing: full, into: &out, workspace: &ws)
                XCTAssertEqual(out, expected, "\(name): heads of stage \(k) re-run alone")
            }
            XCTAssertEqual(state.current, before, "\(name): resuming must leave the state as it was")
        }
    }

    /// The model with conv `name`'s weights halved and 0.125 added to its bias.
    static func changing(_ model: SSDModel, conv name: String) throws -> SSDModel {
        guard let unit = model.convolutions.first(where: { $0.name == name }) else {
            throw SSDModelError.unknownConvolution(name: name)
        }
        var changed = model
        try changed.replaceConvolution(named: name, weight: Tensor(shape: unit.conv.weight.shape,
                                                                   data: unit.conv.weight.data.map { $0 * 0.5 }),
                                       bias: (unit.conv.bias ?? [Float](repeating: 0, count: unit.conv.outChannels))
                                           .map { $0 + 0.125 })
        return changed
    }

    func testStateSizesAndOutputsSoFar() throws {
        for engine in ForwardEngine.allCases { try checkStateSizes(engine) }
    }

    func checkStateSizes(_ engine: ForwardEngine) throws {
        let (model, x) = try ParityFixtures.smallModel("small-mb1-c5")
        var ws = SSDWorkspace(engine: engine)
        let full = model.forward(x, workspace: &ws)
        var state = model.startState(x)
        XCTAssertEqual(state.floatCount, 3 * 300 * 300 + 3000 * (5 + 4))
        // After the stem (3x3 stride 2, 300 -> 150): the stem's channels at 150x150; no head has run yet.
        model.advance(&state, to: 1, workspace: &ws)
        let stem = try XCTUnwrap(model.convolutions.first?.conv.outChannels)
        XCTAssertEqual(state.current.shape, [1, stem, 150, 150])
        XCTAssert(state.outputs.confidences.allSatisfy { $0 == 0 })
        // Right after heads 0 (19x19 source, 6 anchors): its 2166 priors' rows are final, the rest still zero.
        let heads0 = try XCTUnwrap(model.stages.firstIndex { $0.headSource == 0 })
        model.advance(&state, to: heads0 + 1, workspace: &ws)
        XCTAssertEqual(Array(state.outputs.locations.prefix(2166 * 4)), Array(full.locations.prefix(2166 * 4)))
        XCTAssert(state.outputs.locations.dropFirst(2166 * 4).allSatisfy { $0 == 0 })
        XCTAssertEqual(state.current.shape[2...], [19, 19])
        // Advancing is idempotent at the same stage.
        let copy = state.current
        model.advance(&state, to: heads0 + 1, workspace: &ws)
        XCTAssertEqual(state.current, copy)
    }
}
