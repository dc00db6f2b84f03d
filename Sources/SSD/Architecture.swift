/// The four supported detectors, named as on the command line (`--arch`).
public enum Architecture: String, CaseIterable, Sendable, Codable {
    /// qfgaohao MobileNetV2 SSD-Lite (any width multiplier; channel counts are read from the checkpoint).
    case mb2SSDLite = "mb2-ssd-lite"
    /// qfgaohao MobileNetV1 SSD.
    case mb1SSD = "mb1-ssd"
    /// qfgaohao VGG16 SSD (BatchNorm2d on the conv4_3 source).
    case vgg16SSD = "vgg16-ssd"
    /// amdegroot VGG16 SSD300 (L2Norm on the conv4_3 source).
    case ssd300VGG16 = "ssd300-vgg16"

    /// Prior layout of the heads, in head order.
    public var priorSpecs: [PriorSpec] {
        switch self {
        case .mb2SSDLite, .mb1SSD: return PriorBoxes.mobileNetSpecs
        case .vgg16SSD, .ssd300VGG16: return PriorBoxes.vggSpecs
        }
    }

    /// The priors exactly as the reference computes them.
    public var priors: PriorBoxes {
        PriorBoxes(specs: priorSpecs, convention: self == .ssd300VGG16 ? .amdegroot : .qfgaohao)
    }

    /// Boxes per feature-map cell of each head (6 everywhere for the MobileNets; 4/6/6/6/4/4 for VGG).
    public var anchorsPerCell: [Int] { priorSpecs.map(\.boxesPerCell) }

    public var boxDecoder: BoxDecoder { BoxDecoder(convention: self == .ssd300VGG16 ? .amdegroot : .qfgaohao) }

    /// The reference post-processing (score > 0.01, top 200 per class, IoU 0.45).
    public var nms: NonMaximumSuppression {
        NonMaximumSuppression(convention: self == .ssd300VGG16 ? .amdegroot : .qfgaohao)
    }

    /// The key of the last classification head, whose first dimension is `anchors * classes`.
    public var lastClassificationHeadKey: String {
        self == .ssd300VGG16 ? "conf.5.weight" : "classification_headers.5.weight"
    }

    /// Recognises the architecture from state_dict keys (after any `module.` prefix was removed).
    ///
    /// Signatures: amdegroot has `vgg.*` and `L2Norm.weight`; qfgaohao VGG has a bare conv `base_net.0.weight` and
    /// `source_layer_add_ons.0.weight` (BatchNorm2d) or `.scale` (older ScaledL2Norm); MobileNetV2 blocks have
    /// `base_net.1.conv.*`; MobileNetV1 blocks `base_net.1.3.*`.
    /// - Returns: nil when no signature matches.
    public static func detect<Keys: Sequence>(keys: Keys) -> Architecture? where Keys.Element == String {
        let set = Set(keys)
        if set.contains("vgg.0.weight") && set.contains("L2Norm.weight") { return .ssd300VGG16 }
        if set.contains("base_net.0.weight")
            && (set.contains("source_layer_add_ons.0.weight") || set.contains("source_layer_add_ons.0.scale")) {
            return .vgg16SSD
        }
        if set.contains("base_net.0.0.weight") && set.contains("base_net.1.conv.0.weight") { return .mb2SSDLite }
        if set.contains("base_net.0.0.weight") && set.contains("base_net.1.3.weight") { return .mb1SSD }
        return nil
    }

    /// Class count (background included) from the last classification head's shape `[anchors * C, in, kh, kw]`.
    /// - Returns: nil when the key is missing or its first dimension is not a positive multiple of the anchors.
    public func classCount(headShape: [Int]?) -> Int? {
        guard let shape = headShape, shape.count == 4, let anchors = anchorsPerCell.last,
              shape[0] > 0, shape[0] % anchors == 0, shape[0] / anchors >= 2 else { return nil }
        return shape[0] / anchors
    }
}
