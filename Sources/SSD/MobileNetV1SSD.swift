import Tensors

/// MobileNetV1's depthwise-separable block (`base_net.i.*`): depthwise 3x3 (`.0`) + BN (`.1`) + ReLU, pointwise
/// 1x1 (`.3`) + BN (`.4`) + ReLU; bias-free convs, BN folded.
struct DepthwiseSeparable: ConvContainer, Sendable {
    var depthwise: ConvUnit
    var pointwise: ConvUnit

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        body(&depthwise)
        body(&pointwise)
    }
}

/// An SSD "extra" feature layer of the qfgaohao nets (`extras.i.*`): 1x1 conv (`.0`) + ReLU, 3x3 conv (`.2`)
/// + ReLU, both with bias.
struct ExtraPair: ConvContainer, Sendable {
    var reduce: ConvUnit
    var expand: ConvUnit

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        body(&reduce)
        body(&expand)
    }

    static func load(_ prefix: String, inChannels: Int, stride: Int, padding: Int, loader: inout WeightLoader) throws
        -> ExtraPair {
        let reduce = try loader.conv(prefix + ".0", inChannels: inChannels, kernel: 1, bias: true, activation: .relu)
        let expand = try loader.conv(prefix + ".2", inChannels: reduce.conv.outChannels, kernel: 3, stride: stride,
                                     padding: padding, bias: true, activation: .relu)
        return ExtraPair(reduce: reduce, expand: expand)
    }

    func run(_ ws: inout SSDWorkspace, hook: ConvInputHook?) {
        ws.step(reduce, hook: hook)
        ws.step(expand, hook: hook)
    }

    /// qfgaohao's extras `extras.0`, `extras.1`, … after `channels` inputs, one per `(stride, padding)` of the
    /// expanding conv; each output is a source, its channels appended to `sources`.
    static func loadChain(_ strides: [(stride: Int, padding: Int)], inChannels channels: Int, sources: inout [Int],
                          loader: inout WeightLoader) throws -> [ExtraPair] {
        var channels = channels
        var extras: [ExtraPair] = []
        for (i, (stride, padding)) in strides.enumerated() {
            let extra = try load("extras.\(i)", inChannels: channels, stride: stride, padding: padding, loader: &loader)
            channels = extra.expand.conv.outChannels
            sources.append(channels)
            extras.append(extra)
        }
        return extras
    }
}

extension DetectionHeads {
    /// qfgaohao's plain heads (`classification_headers.i`, `regression_headers.i`, 3x3 pad 1) on `sources`.
    static func loadPlain(inChannels sources: [Int], architecture: Architecture, loader: inout WeightLoader) throws
        -> DetectionHeads {
        try load(classificationPrefix: "classification_headers", regressionPrefix: "regression_headers",
                 inChannels: sources, architecture: architecture, separable: { _ in false }, kernel: { _ in 3 },
                 loader: &loader)
    }
}

/// qfgaohao MobileNetV1 SSD: `base_net` (conv_bn + 13 depthwise-separable blocks), `extras` (4 pairs, 3x3
/// stride 2 pad 1), 3x3 heads. Sources: output of `base_net.11` (19x19), `base_net.13` (10x10), each extra.
struct MobileNetV1SSD: SSDNetwork {
    /// `base_net.0`: conv 3x3 s2 (`.0`) + BN (`.1`) + ReLU.
    var stem: ConvUnit
    /// `base_net.1` … `base_net.13`.
    var blocks: [DepthwiseSeparable]
    var extras: [ExtraPair]
    var heads: DetectionHeads

    static let blockStrides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    /// Source 0 is the output of `base_net[0:12]`, i.e. after block 11.
    static let sourceBlock = 11

    var architecture: Architecture { .mb1SSD }
    var classes: Int { heads.classes }

    init(loader: inout WeightLoader) throws {
        stem = try loader.conv("base_net.0.0", inChannels: 3, kernel: 3, stride: 2, padding: 1, bias: false,
                               batchNorm: "base_net.0.1", activation: .relu)
        var channels = stem.conv.outChannels
        var sources: [Int] = []
        blocks = []
        for (i, stride) in Self.blockStrides.enumerated() {
            let p = "base_net.\(i + 1)"
            let dw = try loader.conv(p + ".0", inChannels: channels, kernel: 3, stride: stride, padding: 1,
                                     depthwise: true, bias: false, batchNorm: p + ".1", activation: .relu)
            let pw = try loader.conv(p + ".3", inChannels: channels, kernel: 1, bias: false, batchNorm: p + ".4",
                                     activation: .relu)
            channels = pw.conv.outChannels
            if i + 1 == Self.sourceBlock { sources.append(channels) }
            blocks.append(DepthwiseSeparable(depthwise: dw, pointwise: pw))
        }
        sources.append(channels)
        extras = try ExtraPair.loadChain(Array(repeating: (2, 1), count: 4), inChannels: channels, sources: &sources,
                                         loader: &loader)
        heads = try DetectionHeads.loadPlain(inChannels: sources, architecture: .mb1SSD, loader: &loader)
    }

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        body(&stem)
        for i in blocks.indices {
            blocks[i].visitConvolutions(body)
            if i + 1 == Self.sourceBlock { heads.visitSource(0, body) }
        }
        heads.visitSource(1, body)
        for i in extras.indices {
            extras[i].visitConvolutions(body)
            heads.visitSource(i + 2, body)
        }
    }

    /// Stages: the stem, each block (heads 0 after block 11), heads 1, then each extra followed by its heads.
    enum Stage {
        case stem, block(Int), extra(Int), heads(Int)
    }

    static let stages: [Stage] = {
        var stages: [Stage] = [.stem]
        for i in blockStrides.indices {
            stages.append(.block(i))
            if i + 1 == sourceBlock { stages.append(.heads(0)) }
        }
        stages.append(.heads(1))
        for i in 0..<4 { stages += [.extra(i), .heads(i + 2)] }
        return stages
    }()

    var stageCount: Int { Self.stages.count }

    func stage(_ k: Int) -> ForwardStage {
        switch Self.stages[k] {
        case .stem: return ForwardStage(convolutions: [stem.name], headSource: nil)
        case let .block(i): return ForwardStage(convolutions: blocks[i].convolutionNames, headSource: nil)
        case let .extra(i): return ForwardStage(convolutions: extras[i].convolutionNames, headSource: nil)
        case let .heads(i): return heads.stage(source: i)
        }
    }

    func runStage(_ k: Int, _ ws: inout SSDWorkspace, into out: inout HeadOutputs, hook: ConvInputHook?) {
        switch Self.stages[k] {
        case .stem:
            ws.step(stem, hook: hook)
        case let .block(i):
            ws.step(blocks[i].depthwise, hook: hook)
            ws.step(blocks[i].pointwise, hook: hook)
        case let .extra(i):
            extras[i].run(&ws, hook: hook)
        case let .heads(i):
            heads.run(source: i, ws.current, into: &out, workspace: &ws, hook: hook)
        }
    }
}
