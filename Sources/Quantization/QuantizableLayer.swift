import SSD
import Tensors

/// One convolution of a loaded SSD model as the quantizers see it: BatchNorm already folded in, named by
/// its checkpoint key prefix (`base_net.14.conv.3`, `classification_headers.0`, …).
///
/// Layout: `conv.weight` is `[O, C/groups, kh, kw]`, which read row-major is exactly `W [C_out, d]` with
/// `d = C/groups·kh·kw` — one row per output channel, the quantization unit.
public struct QuantizableLayer: Sendable {
    public let name: String
    public let conv: Conv2D

    public init(name: String, conv: Conv2D) {
        self.name = name
        self.conv = conv
    }

    public var channels: Int { conv.outChannels }
    public var dimension: Int { conv.patchLength }
    public var groups: Int { conv.groups }
    /// `W [C_out, d]` row-major.
    public var weights: [Float] { conv.weight.data }
    /// Parameters that stay fp32 when the layer is quantized (the folded bias).
    public var biasCount: Int { conv.bias?.count ?? 0 }
}

extension SSDModel {
    /// Every convolution in execution order, as quantizable layers.
    public var quantizableLayers: [QuantizableLayer] {
        convolutions.map { QuantizableLayer(name: $0.name, conv: $0.conv) }
    }
}

/// Which layers stay in float (`--skip-layers`).
public enum LayerSelection {
    /// Splits `layers` into those to quantize and those kept float. `skip` holds checkpoint names or the
    /// words `first` / `last` (the first and last conv in execution order).
    /// - Throws: `QuantizationError.unknownLayer` for a name that is not a conv of the model.
    public static func split(_ layers: [QuantizableLayer], skipping skip: [String]) throws
        -> (quantized: [QuantizableLayer], float: [QuantizableLayer]) {
        var skipped = Set<String>()
        let names = Set(layers.map(\.name))
        for entry in skip {
            switch entry {
            case "first": if let name = layers.first?.name { skipped.insert(name) }
            case "last": if let name = layers.last?.name { skipped.insert(name) }
            default:
                guard names.contains(entry) else {
                    throw QuantizationError.unknownLayer(entry, known: layers.prefix(3).map(\.name))
                }
                skipped.insert(entry)
            }
        }
        return (layers.filter { !skipped.contains($0.name) }, layers.filter { skipped.contains($0.name) })
    }
}
