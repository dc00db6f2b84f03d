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
        var channels = fc7
        var sources = [conv4_3, fc7]
        extras = []
        for (i, (stride, padding)) in [(2, 1), (2, 1), (1, 0), (1, 0)].enumerated() {
            let extra = try ExtraPair.load("extras.\(i)", inChannels: channels, stride: stride, padding: padding,
                                           loader: &loader)
            channels = extra.expand.conv.outChannels
            sources.append(channels)
            extras.append(extra)
        }
        heads = try DetectionHeads.load(classificationPrefix: "classification_headers",
                                        regressionPrefix: "regression_headers", inChannels: sources,
                                        architecture: .vgg16SSD, separable: { _ in false }, kernel: { _ in 3 },
                                        loader: &loader)
    }

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        // Execution order: conv1_1 … conv4_3, heads 0, the rest of the base, heads 1, extras with their heads.
        var head = 0
        for i in base.slots.indices {
            if i == VGGBase.conv4_3End {
                visitHeads(0, body)
                head = 1
            }
            if case var .conv(unit) = base.slots[i] {
                body(&unit)
                base.slots[i] = .conv(unit)
            }
        }
        visitHeads(head, body)
        for i in extras.indices {
            extras[i].visitConvolutions(body)
            visitHeads(i + 2, body)
        }
    }

    private mutating func visitHeads(_ i: Int, _ body: (inout ConvUnit) -> Void) {
        heads.classification[i].visitConvolutions(body)
        heads.regression[i].visitConvolutions(body)
    }

    func forward(_ ws: inout SSDWorkspace, into out: inout HeadOutputs, hook: ConvInputHook?) {
        base.run(0..<VGGBase.conv4_3End, &ws, hook: hook)
        sourceNorm.apply(ws.current, into: &ws.source)
        heads.run(source: 0, ws.source, into: &out, workspace: &ws, hook: hook)
        base.run(VGGBase.conv4_3End..<base.slots.count, &ws, hook: hook)
        heads.run(source: 1, ws.current, into: &out, workspace: &ws, hook: hook)
        for (i, extra) in extras.enumerated() {
            extra.run(&ws, hook: hook)
            heads.run(source: i + 2, ws.current, into: &out, workspace: &ws, hook: hook)
        }
    }
}
