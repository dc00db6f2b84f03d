import Tensors

/// MobileNetV2's inverted residual block (`…conv.*`): expansion 1x1 (`conv.0` + BN `conv.1`, ReLU6; absent
/// when the expansion ratio is 1), depthwise 3x3 (`conv.3`/`conv.4`, or `conv.0`/`conv.1` without expansion,
/// ReLU6), linear projection 1x1 (`conv.6`/`conv.7`, or `conv.3`/`conv.4`). Residual iff stride 1 and
/// in == out channels. All convs bias-free; BN folded.
struct InvertedResidual: ConvContainer, Sendable {
    var expand: ConvUnit?
    var depthwise: ConvUnit
    var project: ConvUnit
    let residual: Bool

    var outChannels: Int { project.conv.outChannels }

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        expand.visitConvolutions(body)
        body(&depthwise)
        body(&project)
    }

    /// Loads block `prefix` (e.g. `base_net.3`); the expansion is present iff `prefix.conv.6.weight` exists.
    static func load(_ prefix: String, inChannels: Int, stride: Int, loader: inout WeightLoader) throws
        -> InvertedResidual {
        let p = prefix + ".conv."
        if loader.has(p + "6.weight") {
            let expand = try loader.conv(p + "0", inChannels: inChannels, kernel: 1, bias: false,
                                         batchNorm: p + "1", activation: .relu6)
            let hidden = expand.conv.outChannels
            let dw = try loader.conv(p + "3", inChannels: hidden, kernel: 3, stride: stride, padding: 1,
                                     depthwise: true, bias: false, batchNorm: p + "4", activation: .relu6)
            let project = try loader.conv(p + "6", inChannels: hidden, kernel: 1, bias: false, batchNorm: p + "7",
                                          activation: .identity)
            return InvertedResidual(expand: expand, depthwise: dw, project: project,
                                    residual: stride == 1 && inChannels == project.conv.outChannels)
        }
        let dw = try loader.conv(p + "0", inChannels: inChannels, kernel: 3, stride: stride, padding: 1,
                                 depthwise: true, bias: false, batchNorm: p + "1", activation: .relu6)
        let project = try loader.conv(p + "3", inChannels: inChannels, kernel: 1, bias: false, batchNorm: p + "4",
                                      activation: .identity)
        return InvertedResidual(expand: nil, depthwise: dw, project: project,
                                residual: stride == 1 && inChannels == project.conv.outChannels)
    }

    /// `current <- block(current)`.
    func run(_ ws: inout SSDWorkspace, hook: ConvInputHook?) {
        // Buffers: input stays in `spare` (for the residual) until the projection writes `current`.
        if let expand {
            expand.run(ws.current, into: &ws.spare, scratch: &ws.scratch, hook: hook)
            swap(&ws.current, &ws.spare)             // current = hidden, spare = input
            depthwise.run(ws.current, into: &ws.extra, scratch: &ws.scratch, hook: hook)
        } else {
            swap(&ws.current, &ws.spare)             // spare = input
            depthwise.run(ws.spare, into: &ws.extra, scratch: &ws.scratch, hook: hook)
        }
        project.run(ws.extra, into: &ws.current, scratch: &ws.scratch, hook: hook)
        if residual { addInPlace(&ws.current, ws.spare) }
    }

    /// `current <- expansion(current)`: the first half of a block split around its expansion output (mb2-ssd-lite's
    /// first source lives inside block 14). Only for blocks without a residual, whose input is not needed later.
    func runExpansion(_ ws: inout SSDWorkspace, hook: ConvInputHook?) {
        precondition(!residual, "a residual block cannot be split after its expansion")
        if let expand { ws.step(expand, hook: hook) }
    }

    /// `current <- project(depthwise(current))`: the second half of a split block.
    func runAfterExpansion(_ ws: inout SSDWorkspace, hook: ConvInputHook?) {
        precondition(!residual, "a residual block cannot be split after its expansion")
        depthwise.run(ws.current, into: &ws.extra, scratch: &ws.scratch, hook: hook)
        project.run(ws.extra, into: &ws.current, scratch: &ws.scratch, hook: hook)
    }
}

/// qfgaohao MobileNetV2 SSD-Lite: `base_net` (MobileNetV2 features, 19 entries), `extras` (4 inverted residuals,
/// stride 2), `classification_headers` / `regression_headers` (5 separable + one 1x1). Sources: the expansion
/// output inside `base_net.14` (19x19) and `base_net.18` (10x10), then each extra (5, 3, 2, 1).
struct MobileNetV2SSDLite: SSDNetwork {
    /// `base_net.0`: conv 3x3 s2 + BN + ReLU6.
    var stem: ConvUnit
    /// `base_net.1` … `base_net.17`.
    var blocks: [InvertedResidual]
    /// `base_net.18`: conv 1x1 + BN + ReLU6.
    var last: ConvUnit
    var extras: [InvertedResidual]
    var heads: DetectionHeads

    /// Strides of blocks 1…17: MobileNetV2's (t, c, n, s) table (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2)
    /// (6,96,3,1) (6,160,3,2) (6,320,1,1), first block of each group strided.
    static let blockStrides = [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
    static let sourceBlock = 14

    var architecture: Architecture { .mb2SSDLite }
    var classes: Int { heads.classes }

    init(loader: inout WeightLoader) throws {
        stem = try loader.conv("base_net.0.0", inChannels: 3, kernel: 3, stride: 2, padding: 1, bias: false,
                               batchNorm: "base_net.0.1", activation: .relu6)
        var channels = stem.conv.outChannels
        blocks = []
        var sourceChannels = 0
        for (i, stride) in Self.blockStrides.enumerated() {
            let block = try InvertedResidual.load("base_net.\(i + 1)", inChannels: channels, stride: stride,
                                                  loader: &loader)
            if i + 1 == Self.sourceBlock {
                guard let expand = block.expand else {
                    throw SSDModelError.missingKey(file: loader.file, key: "base_net.14.conv.6.weight")
                }
                sourceChannels = expand.conv.outChannels
            }
            channels = block.outChannels
            blocks.append(block)
        }
        last = try loader.conv("base_net.18.0", inChannels: channels, kernel: 1, bias: false,
                               batchNorm: "base_net.18.1", activation: .relu6)
        channels = last.conv.outChannels
        var sources = [sourceChannels, channels]
        extras = []
        for i in 0..<4 {
            let extra = try InvertedResidual.load("extras.\(i)", inChannels: channels, stride: 2, loader: &loader)
            channels = extra.outChannels
            sources.append(channels)
            extras.append(extra)
        }
        heads = try DetectionHeads.load(classificationPrefix: "classification_headers",
                                        regressionPrefix: "regression_headers", inChannels: sources,
                                        architecture: .mb2SSDLite, separable: { $0 < 5 }, kernel: { $0 < 5 ? 3 : 1 },
                                        loader: &loader)
    }

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        // Execution order: the first source's heads run inside block 14, right after its expansion.
        body(&stem)
        for i in blocks.indices {
            if i + 1 == Self.sourceBlock {
                blocks[i].expand.visitConvolutions(body)
                heads.visitSource(0, body)
                body(&blocks[i].depthwise)
                body(&blocks[i].project)
            } else {
                blocks[i].visitConvolutions(body)
            }
        }
        body(&last)
        heads.visitSource(1, body)
        for i in extras.indices {
            extras[i].visitConvolutions(body)
            heads.visitSource(i + 2, body)
        }
    }

    /// Stages: the stem, each block, `last`, each extra, each source's heads. Block 14 is split after its
    /// expansion, whose output is source 0: `expansion(13)`, heads 0, `afterExpansion(13)`.
    enum Stage {
        case stem, block(Int), expansion(Int), afterExpansion(Int), last, extra(Int), heads(Int)
    }

    static let stages: [Stage] = {
        var stages: [Stage] = [.stem]
        for i in blockStrides.indices {
            stages += i + 1 == sourceBlock ? [.expansion(i), .heads(0), .afterExpansion(i)] : [.block(i)]
        }
        stages += [.last, .heads(1)]
        for i in 0..<4 { stages += [.extra(i), .heads(i + 2)] }
        return stages
    }()

    var stageCount: Int { Self.stages.count }

    func stage(_ k: Int) -> ForwardStage {
        switch Self.stages[k] {
        case .stem: return ForwardStage(convolutions: [stem.name], headSource: nil)
        case let .block(i): return ForwardStage(convolutions: blocks[i].convolutionNames, headSource: nil)
        case let .expansion(i): return ForwardStage(convolutions: blocks[i].expand.convolutionNames, headSource: nil)
        case let .afterExpansion(i):
            return ForwardStage(convolutions: [blocks[i].depthwise.name, blocks[i].project.name], headSource: nil)
        case .last: return ForwardStage(convolutions: [last.name], headSource: nil)
        case let .extra(i): return ForwardStage(convolutions: extras[i].convolutionNames, headSource: nil)
        case let .heads(i): return heads.stage(source: i)
        }
    }

    func runStage(_ k: Int, _ ws: inout SSDWorkspace, into out: inout HeadOutputs, hook: ConvInputHook?) {
        switch Self.stages[k] {
        case .stem: ws.step(stem, hook: hook)
        case let .block(i): blocks[i].run(&ws, hook: hook)
        case let .expansion(i): blocks[i].runExpansion(&ws, hook: hook)
        case let .afterExpansion(i): blocks[i].runAfterExpansion(&ws, hook: hook)
        case .last: ws.step(last, hook: hook)
        case let .extra(i): extras[i].run(&ws, hook: hook)
        case let .heads(i): heads.run(source: i, ws.current, into: &out, workspace: &ws, hook: hook)
        }
    }
}
