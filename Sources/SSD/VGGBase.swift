import Tensors

/// One entry of the VGG16 `nn.ModuleList` (35 entries in both repositories). ReLU entries are kept so the indices
/// equal the checkpoint's (`base_net.21` / `vgg.21`); they are fused into the conv before them.
enum VGGSlot: Sendable {
    case conv(ConvUnit)
    case relu
    case pool(MaxPool2D)
}

/// VGG16 with SSD's changes: conv1_1 … conv5_3 (3x3 pad 1), pools 2x2 (pool3 in ceil mode: 75 -> 38), pool5
/// 3x3 stride 1 pad 1, conv6 3x3 dilation 6 pad 6 (fc6), conv7 1x1 (fc7); ReLU after every conv.
struct VGGBase: ConvContainer, Sendable {
    var slots: [VGGSlot]

    /// Layout: "C" conv 3x3 pad 1, "R" ReLU, "M" pool 2x2, "Ceil" pool 2x2 ceil mode, "P5" pool 3x3 s1 p1,
    /// "C6" conv 3x3 dil 6 pad 6, "C7" conv 1x1.
    static let layout: [String] = ["C", "R", "C", "R", "M", "C", "R", "C", "R", "M",
                                   "C", "R", "C", "R", "C", "R", "Ceil", "C", "R", "C", "R", "C", "R", "M",
                                   "C", "R", "C", "R", "C", "R", "P5", "C6", "R", "C7", "R"]
    /// Source 0 is the output of entries 0..<23 (conv4_3 after its ReLU).
    static let conv4_3End = 23

    /// Loads the 35 entries under `prefix` (`base_net` or `vgg`). Returns the base and the channels of
    /// conv4_3 and fc7.
    static func load(_ prefix: String, loader: inout WeightLoader) throws -> (VGGBase, conv4_3: Int, fc7: Int) {
        var slots: [VGGSlot] = []
        var channels = 3, conv4_3 = 0
        for (i, kind) in layout.enumerated() {
            let name = "\(prefix).\(i)"
            switch kind {
            case "C", "C6", "C7":
                let unit = try loader.conv(name, inChannels: channels, kernel: kind == "C7" ? 1 : 3,
                                           padding: kind == "C" ? 1 : (kind == "C6" ? 6 : 0),
                                           dilation: kind == "C6" ? 6 : 1, bias: true, activation: .relu)
                channels = unit.conv.outChannels
                slots.append(.conv(unit))
            case "R":
                slots.append(.relu)
            case "M":
                slots.append(.pool(MaxPool2D(kernel: 2, stride: 2)))
            case "Ceil":
                slots.append(.pool(MaxPool2D(kernel: 2, stride: 2, ceilMode: true)))
            default:
                slots.append(.pool(MaxPool2D(kernel: 3, stride: 1, padding: 1)))
            }
            if i + 1 == conv4_3End { conv4_3 = channels }
        }
        return (VGGBase(slots: slots), conv4_3, channels)
    }

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        for i in slots.indices {
            if case var .conv(unit) = slots[i] {
                body(&unit)
                slots[i] = .conv(unit)
            }
        }
    }

    /// The entries split into one range per conv (with its ReLU and any pools after it), so each stage of a VGG
    /// network runs one conv and the activation it hands on is pooled (smaller) where a pool follows. The ranges
    /// break at `conv4_3End` (source 0 is taken before pool4).
    static let convRanges: [Range<Int>] = {
        var ranges: [Range<Int>] = [], start = 0
        for i in layout.indices where layout[i] == "R" {
            var end = i + 1
            while end < layout.count, end != conv4_3End, ["M", "Ceil", "P5"].contains(layout[end]) { end += 1 }
            ranges.append(start..<end)
            start = end
        }
        return ranges
    }()

    /// The conv names in `range`.
    func convolutionNames(_ range: Range<Int>) -> [String] {
        slots[range].compactMap { if case let .conv(unit) = $0 { return unit.name } else { return nil } }
    }

    /// Visits the base convs in execution order with the heads of sources 0 (after conv4_3) and 1 (after fc7).
    mutating func visitConvolutions(withHeads heads: inout DetectionHeads, _ body: (inout ConvUnit) -> Void) {
        for i in slots.indices {
            if i == Self.conv4_3End { heads.visitSource(0, body) }
            if case var .conv(unit) = slots[i] {
                body(&unit)
                slots[i] = .conv(unit)
            }
        }
        heads.visitSource(1, body)
    }

    /// Runs entries `range` on `ws.current`.
    func run(_ range: Range<Int>, _ ws: inout SSDWorkspace, hook: ConvInputHook?) {
        for slot in slots[range] {
            switch slot {
            case let .conv(unit): ws.step(unit, hook: hook)
            case .relu: break
            case let .pool(pool): ws.pool(pool)
            }
        }
    }
}

/// qfgaohao VGG16 SSD: `base_net` (VGGBase), `source_layer_add_ons.0` (BatchNorm2d on conv4_3, applied as an
/// affine map: it follows a ReLU so it cannot be folded; ScaledL2Norm in older files), `extras` (4 pairs: 3x3 s2 p1, s2 p1, s1 p0, s1 p0),
/// 3x3 heads with 4/6/6/6/4/4 anchors. Sources 38, 19, 10, 5, 3, 1.
struct VGG16SSD: SSDNetwork {
    var base: VGGBase
    let sourceNorm: SourceNormalization
    var extras: [ExtraPair]
    var heads: DetectionHeads

    var architecture: Architecture { .vgg16SSD }
    var otherTensors: [(String, [Float])] { sourceNorm.tensors }
    var classes: Int { heads.classes }

    init(loader: inout WeightLoader) throws {
        let (base, conv4_3, fc7) = try VGGBase.load("base_net", loader: &loader)
        self.base = base
        sourceNorm = try SourceNormalization.load("source_layer_add_ons.0", channels: conv4_3, loader: &loader)
        var sources = [conv4_3, fc7]
        extras = try ExtraPair.loadChain([(2, 1), (2, 1), (1, 0), (1, 0)], inChannels: fc7, sources: &sources,
                                         loader: &loader)
        heads = try DetectionHeads.loadPlain(inChannels: sources, architecture: .vgg16SSD, loader: &loader)
    }

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        // Execution order: conv1_1 … conv4_3, heads 0, the rest of the base, heads 1, extras with their heads.
        base.visitConvolutions(withHeads: &heads, body)
        for i in extras.indices {
            extras[i].visitConvolutions(body)
            heads.visitSource(i + 2, body)
        }
    }

    var stageCount: Int { VGGStage.stages(extras: extras.count).count }

    func stage(_ k: Int) -> ForwardStage {
        VGGStage.stages(extras: extras.count)[k].describe(base: base, heads: heads,
                                                          extra: { extras[$0].convolutionNames })
    }

    func runStage(_ k: Int, _ ws: inout SSDWorkspace, into out: inout HeadOutputs, hook: ConvInputHook?) {
        switch VGGStage.stages(extras: extras.count)[k] {
        case let .base(range):
            base.run(range, &ws, hook: hook)
        case .heads(0):
            sourceNorm.apply(ws.current, into: &ws.source)
            heads.run(source: 0, ws.source, into: &out, workspace: &ws, hook: hook)
        case let .heads(i):
            heads.run(source: i, ws.current, into: &out, workspace: &ws, hook: hook)
        case let .extra(i):
            extras[i].run(&ws, hook: hook)
        }
    }
}

/// The stages of both VGG networks: one per base conv (`VGGBase.convRanges`), heads 0 after conv4_3 (they
/// normalise the source themselves, so a state there holds only conv4_3's output), heads 1 after fc7, then each
/// extra (a conv pair for qfgaohao, a single conv for amdegroot) with the heads of the sources it ends.
enum VGGStage: Equatable {
    case base(Range<Int>), extra(Int), heads(Int)

    /// `extras` = 4 (pairs, each a source) or 8 (single convs, odd ones sources).
    static func stages(extras: Int) -> [VGGStage] {
        extras == 4 ? pairStages : singleStages
    }

    private static let pairStages = build(extras: 4)
    private static let singleStages = build(extras: 8)

    private static func build(extras: Int) -> [VGGStage] {
        var stages: [VGGStage] = []
        for range in VGGBase.convRanges {
            stages.append(.base(range))
            if range.upperBound == VGGBase.conv4_3End { stages.append(.heads(0)) }
        }
        stages.append(.heads(1))
        let perSource = extras / 4
        for i in 0..<extras {
            stages.append(.extra(i))
            if (i + 1) % perSource == 0 { stages.append(.heads(i / perSource + 2)) }
        }
        return stages
    }

    func describe(base: VGGBase, heads: DetectionHeads, extra: (Int) -> [String]) -> ForwardStage {
        switch self {
        case let .base(range): return ForwardStage(convolutions: base.convolutionNames(range), headSource: nil)
        case let .extra(i): return ForwardStage(convolutions: extra(i), headSource: nil)
        case let .heads(i): return heads.stage(source: i)
        }
    }
}
