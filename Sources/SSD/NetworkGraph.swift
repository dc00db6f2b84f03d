import Tensors

/// The network as a dataflow graph, for export: every operation the forward pass runs, in execution order,
/// on numbered values (value 0 is the `[1, 3, 300, 300]` input). Convolutions are the model's `ConvUnit`s
/// (BatchNorm folded, activation fused, OCS input map included), so a quantized model's graph names the same
/// layers as its quantized file.
public struct NetworkGraph: Sendable {
    public enum Node: Sendable {
        /// `output = unit(input)` (activation included; an OCS conv reads `input` gathered by its map).
        case conv(ConvUnit, input: Int, output: Int)
        case maxPool(MaxPool2D, input: Int, output: Int)
        /// `output = a + b` (a residual connection).
        case add(Int, Int, output: Int)
        /// `output[c] = input[c] · scale[c] + shift[c]` (an inference BatchNorm on a source).
        case channelAffine(scale: [Float], shift: [Float], input: Int, output: Int)
        /// amdegroot's L2Norm: `output[c] = weight[c] · (input[c] / (‖input‖₂ + eps))`, norm over channels.
        case l2Norm(weight: [Float], eps: Float, input: Int, output: Int)
        /// qfgaohao's ScaledL2Norm: `output[c] = input[c] / max(‖input‖₂, floor) · scale[c]`.
        case scaledL2Norm(scale: [Float], floor: Float, input: Int, output: Int)
    }

    /// The input value.
    public static let input = 0
    public private(set) var nodes: [Node] = []
    /// Per source, the value of its classification head's output `[1, A·C, H, W]`.
    public private(set) var classification: [Int] = []
    /// Per source, the value of its regression head's output `[1, A·4, H, W]`.
    public private(set) var regression: [Int] = []
    /// Number of values (ids are `0..<valueCount`).
    public private(set) var valueCount = 1

    init() {}

    mutating func fresh() -> Int {
        valueCount += 1
        return valueCount - 1
    }

    mutating func conv(_ unit: ConvUnit, _ x: Int) -> Int {
        let y = fresh()
        nodes.append(.conv(unit, input: x, output: y))
        return y
    }

    mutating func pool(_ pool: MaxPool2D, _ x: Int) -> Int {
        let y = fresh()
        nodes.append(.maxPool(pool, input: x, output: y))
        return y
    }

    mutating func add(_ a: Int, _ b: Int) -> Int {
        let y = fresh()
        nodes.append(.add(a, b, output: y))
        return y
    }

    mutating func append(_ make: (Int) -> Node) -> Int {
        let y = fresh()
        nodes.append(make(y))
        return y
    }

    /// Both heads of one source on `x`.
    mutating func heads(_ heads: DetectionHeads, source i: Int, _ x: Int) {
        func run(_ head: HeadLayer) -> Int {
            switch head {
            case let .plain(unit): return conv(unit, x)
            case let .separable(dw, pw): return conv(pw, conv(dw, x))
            }
        }
        classification.append(run(heads.classification[i]))
        regression.append(run(heads.regression[i]))
    }
}

extension SSDModel {
    /// The forward pass as a graph (see `NetworkGraph`).
    public var graph: NetworkGraph {
        var g = NetworkGraph()
        network.emit(into: &g)
        return g
    }
}

extension SSDNetwork {
    func emit(into g: inout NetworkGraph) {
        switch self {
        case let net as MobileNetV2SSDLite: net.emitGraph(&g)
        case let net as MobileNetV1SSD: net.emitGraph(&g)
        case let net as VGG16SSD: net.emitGraph(&g)
        case let net as SSD300: net.emitGraph(&g)
        default: preconditionFailure("no graph for \(architecture.rawValue)")
        }
    }
}

extension InvertedResidual {
    func emitGraph(_ g: inout NetworkGraph, _ x: Int) -> Int {
        let hidden = expand.map { g.conv($0, x) } ?? x
        let y = g.conv(project, g.conv(depthwise, hidden))
        return residual ? g.add(y, x) : y
    }
}

extension MobileNetV2SSDLite {
    func emitGraph(_ g: inout NetworkGraph) {
        var x = g.conv(stem, NetworkGraph.input)
        for (i, block) in blocks.enumerated() {
            if i + 1 == Self.sourceBlock, let expand = block.expand {
                let hidden = g.conv(expand, x)
                g.heads(heads, source: 0, hidden)
                x = g.conv(block.project, g.conv(block.depthwise, hidden))
            } else {
                x = block.emitGraph(&g, x)
            }
        }
        x = g.conv(last, x)
        g.heads(heads, source: 1, x)
        for (i, extra) in extras.enumerated() {
            x = extra.emitGraph(&g, x)
            g.heads(heads, source: i + 2, x)
        }
    }
}

extension MobileNetV1SSD {
    func emitGraph(_ g: inout NetworkGraph) {
        var x = g.conv(stem, NetworkGraph.input)
        for (i, block) in blocks.enumerated() {
            x = g.conv(block.pointwise, g.conv(block.depthwise, x))
            if i + 1 == Self.sourceBlock { g.heads(heads, source: 0, x) }
        }
        g.heads(heads, source: 1, x)
        for (i, extra) in extras.enumerated() {
            x = g.conv(extra.expand, g.conv(extra.reduce, x))
            g.heads(heads, source: i + 2, x)
        }
    }
}

extension VGGBase {
    /// The base on `x`; `source0` receives conv4_3's output (before pool4). Returns fc7's output.
    func emitGraph(_ g: inout NetworkGraph, _ x: Int, source0: (inout NetworkGraph, Int) -> Void) -> Int {
        var x = x
        for (i, slot) in slots.enumerated() {
            if i == Self.conv4_3End { source0(&g, x) }
            switch slot {
            case let .conv(unit): x = g.conv(unit, x)
            case .relu: break
            case let .pool(pool): x = g.pool(pool, x)
            }
        }
        return x
    }
}

extension VGG16SSD {
    func emitGraph(_ g: inout NetworkGraph) {
        var x = base.emitGraph(&g, NetworkGraph.input) { g, source in
            let normalized: Int
            switch sourceNorm {
            case let .batchNorm(affine):
                normalized = g.append { .channelAffine(scale: affine.scale, shift: affine.shift, input: source, output: $0) }
            case let .scaledL2Norm(norm):
                normalized = g.append { .scaledL2Norm(scale: norm.scale, floor: 1e-12, input: source, output: $0) }
            }
            g.heads(heads, source: 0, normalized)
        }
        g.heads(heads, source: 1, x)
        for (i, extra) in extras.enumerated() {
            x = g.conv(extra.expand, g.conv(extra.reduce, x))
            g.heads(heads, source: i + 2, x)
        }
    }
}

extension SSD300 {
    func emitGraph(_ g: inout NetworkGraph) {
        var x = base.emitGraph(&g, NetworkGraph.input) { g, source in
            let normalized = g.append { .l2Norm(weight: l2NormWeight, eps: 1e-10, input: source, output: $0) }
            g.heads(heads, source: 0, normalized)
        }
        g.heads(heads, source: 1, x)
        for (k, unit) in extras.enumerated() {
            x = g.conv(unit, x)
            if k % 2 == 1 { g.heads(heads, source: k / 2 + 2, x) }
        }
    }
}
