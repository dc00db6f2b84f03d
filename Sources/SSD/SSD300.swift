import Tensors

/// amdegroot VGG16 SSD300: `vgg` (VGGBase), `L2Norm` (`weight [C]`, applied to conv4_3), `extras` (8 bare convs
/// with ReLU applied in forward: 1x1; 3x3 s2 p1; 1x1; 3x3 s2 p1; 1x1; 3x3 p0; 1x1; 3x3 p0 — the odd ones are
/// sources), heads `loc.i` / `conf.i` (3x3 pad 1, 4/6/6/6/4/4 anchors).
struct SSD300: SSDNetwork {
    var base: VGGBase
    let l2NormWeight: [Float]
    var extras: [ConvUnit]
    var heads: DetectionHeads

    var architecture: Architecture { .ssd300VGG16 }
    var otherTensors: [(String, [Float])] { [("L2Norm.weight", l2NormWeight)] }
    var classes: Int { heads.classes }

    init(loader: inout WeightLoader) throws {
        let (base, conv4_3, fc7) = try VGGBase.load("vgg", loader: &loader)
        self.base = base
        l2NormWeight = try loader.tensor("L2Norm.weight", [conv4_3]).values
        var channels = fc7
        var sources = [conv4_3, fc7]
        extras = []
        for k in 0..<8 {
            let odd = k % 2 == 1
            let unit = try loader.conv("extras.\(k)", inChannels: channels, kernel: odd ? 3 : 1,
                                       stride: odd && k < 4 ? 2 : 1, padding: odd && k < 4 ? 1 : 0, bias: true,
                                       activation: .relu)
            channels = unit.conv.outChannels
            if odd { sources.append(channels) }
            extras.append(unit)
        }
        heads = try DetectionHeads.load(classificationPrefix: "conf", regressionPrefix: "loc", inChannels: sources,
                                        architecture: .ssd300VGG16, separable: { _ in false }, kernel: { _ in 3 },
                                        loader: &loader)
    }

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        base.visitConvolutions(withHeads: &heads, body)
        for k in extras.indices {
            body(&extras[k])
            if k % 2 == 1 { heads.visitSource(k / 2 + 2, body) }
        }
    }

    var stageCount: Int { VGGStage.stages(extras: extras.count).count }

    func stage(_ k: Int) -> ForwardStage {
        VGGStage.stages(extras: extras.count)[k].describe(base: base, heads: heads, extra: { [extras[$0].name] })
    }

    func runStage(_ k: Int, _ ws: inout SSDWorkspace, into out: inout HeadOutputs, hook: ConvInputHook?) {
        switch VGGStage.stages(extras: extras.count)[k] {
        case let .base(range):
            base.run(range, &ws, hook: hook)
        case .heads(0):
            l2Norm(ws.current, weight: l2NormWeight, eps: 1e-10, into: &ws.source)
            heads.run(source: 0, ws.source, into: &out, workspace: &ws, hook: hook)
        case let .heads(i):
            heads.run(source: i, ws.current, into: &out, workspace: &ws, hook: hook)
        case let .extra(k):
            ws.step(extras[k], hook: hook)
        }
    }
}
