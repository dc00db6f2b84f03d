import Tensors

/// Two convolutions of a network where the first one's output feeds **only** the second one's input, through
/// the first one's fused activation (and, in VGG, max pools): scaling output channel `i` of `first` by `1/s`
/// and input channel `i` of `second` by `s` leaves the network unchanged when that activation commutes with a
/// positive per-channel scale (identity, ReLU and max pooling do; ReLU6 does not: it clips at 6).
///
/// Never listed: a conv whose output is a detection source (it also feeds the heads), whose output enters a
/// residual add (MobileNetV2's projection in a residual block, or a projection whose block output feeds the next
/// block's residual), so a pair never crosses an add.
public struct ConvPair: Sendable, Equatable, CustomStringConvertible {
    public let first: String
    public let second: String
    /// The activation between the two (the first conv's fused activation).
    public let activation: Activation

    public init(first: String, second: String, activation: Activation) {
        self.first = first
        self.second = second
        self.activation = activation
    }

    public var description: String { "\(first) -> \(second) (\(activation))" }
}

extension SSDModel {
    /// Every consecutive-conv pair of the network (see `ConvPair`), in execution order; ReLU6 pairs included
    /// (their `activation` says so; cross-layer equalization skips them).
    public var consecutiveConvPairs: [ConvPair] {
        switch network {
        case let n as MobileNetV1SSD: return n.convPairs
        case let n as MobileNetV2SSDLite: return n.convPairs
        case let n as VGG16SSD: return n.base.convPairs + n.extras.flatMap(\.convPairs)
        case let n as SSD300:
            var pairs = n.base.convPairs
            for k in stride(from: 0, to: n.extras.count - 1, by: 2) {
                pairs.append(ConvPair(n.extras[k], n.extras[k + 1]))
            }
            return pairs
        default: return []
        }
    }
}

extension ConvPair {
    init(_ a: ConvUnit, _ b: ConvUnit) {
        self.init(first: a.name, second: b.name, activation: a.conv.activation)
    }
}

extension ExtraPair {
    /// `reduce -> expand`; the expand output is a source.
    var convPairs: [ConvPair] { [ConvPair(reduce, expand)] }
}

extension VGGBase {
    /// Consecutive base convs (ReLU and pools between them), except across conv4_3's output (source 0); fc7, the
    /// last, is source 1.
    var convPairs: [ConvPair] {
        var pairs: [ConvPair] = []
        var previous: (index: Int, unit: ConvUnit)?
        for (i, slot) in slots.enumerated() {
            guard case let .conv(unit) = slot else { continue }
            if let p = previous, !(p.index < Self.conv4_3End && i >= Self.conv4_3End) {
                pairs.append(ConvPair(p.unit, unit))
            }
            previous = (i, unit)
        }
        return pairs
    }
}

extension MobileNetV1SSD {
    /// stem -> dw 1, then in every block dw -> pw and pw -> the next block's dw (not after the source block
    /// 11 and not after the last block: both outputs are sources), and each extra's reduce -> expand.
    var convPairs: [ConvPair] {
        var pairs: [ConvPair] = []
        var previous = stem
        for (i, block) in blocks.enumerated() {
            if i != Self.sourceBlock { pairs.append(ConvPair(previous, block.depthwise)) }
            pairs.append(ConvPair(block.depthwise, block.pointwise))
            previous = block.pointwise
        }
        return pairs + extras.flatMap(\.convPairs)
    }
}

extension InvertedResidual {
    var first: ConvUnit { expand ?? depthwise }

    /// expand -> dw (unless the expansion output is a source) and dw -> project, both through ReLU6.
    func innerPairs(expansionIsSource: Bool) -> [ConvPair] {
        var pairs: [ConvPair] = []
        if let expand, !expansionIsSource { pairs.append(ConvPair(expand, depthwise)) }
        pairs.append(ConvPair(depthwise, project))
        return pairs
    }
}

extension MobileNetV2SSDLite {
    /// stem -> block 1 (ReLU6), every block's inner pairs (ReLU6), the linear projection -> the next block's first
    /// conv when neither block is residual (no add on the way), the last block's projection -> `base_net.18`
    /// likewise, each extra's inner pairs and each separable head's dw -> pw (ReLU6).
    var convPairs: [ConvPair] {
        var pairs = [ConvPair(stem, blocks[0].first)]
        for (i, block) in blocks.enumerated() {
            pairs += block.innerPairs(expansionIsSource: i + 1 == Self.sourceBlock)
            if block.residual { continue }
            if i + 1 < blocks.count {
                if !blocks[i + 1].residual { pairs.append(ConvPair(block.project, blocks[i + 1].first)) }
            } else {
                pairs.append(ConvPair(block.project, last))
            }
        }
        for extra in extras { pairs += extra.innerPairs(expansionIsSource: false) }
        for head in heads.classification + heads.regression {
            if case let .separable(dw, pw) = head { pairs.append(ConvPair(dw, pw)) }
        }
        return pairs
    }
}
