import Foundation
import Tensors

/// A per-channel affine map over `[N, C, H, W]`: `y[c] = x[c] * scale[c] + shift[c]` (an inference BatchNorm2d).
struct ChannelAffine: Sendable {
    let name: String
    let scale: [Float]
    let shift: [Float]
    /// The BatchNorm's own tensors (`weight`, `bias`, `running_mean`, `running_var`), kept for export.
    let original: [(suffix: String, values: [Float])]

    func apply(_ x: Tensor, into y: inout Tensor) {
        precondition(x.rank == 4 && x.shape[1] == scale.count, "ChannelAffine: channel mismatch")
        y.reshapeForOutput(x.shape)
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3], c = scale.count
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                for p in 0..<planes {
                    let s = scale[p % c], t = shift[p % c]
                    for i in p * hw..<(p + 1) * hw { yb[i] = xb[i] * s + t }
                }
            }
        }
    }
}

/// qfgaohao's older `ScaledL2Norm` (before it switched to BatchNorm2d): `F.normalize(x, p=2, dim=1) * scale`,
/// i.e. per location `y[c] = x[c] / max(||x||_2, 1e-12) * scale[c]` over `[N, C, H, W]`; key `….scale` `[C]`.
struct ScaledL2Norm: Sendable {
    let name: String
    let scale: [Float]

    func apply(_ x: Tensor, into y: inout Tensor) {
        precondition(x.rank == 4 && x.shape[1] == scale.count, "ScaledL2Norm: channel mismatch")
        y.reshapeForOutput(x.shape)
        let c = scale.count, hw = x.shape[2] * x.shape[3]
        var norms = [Float](repeating: 0, count: hw)
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                for image in 0..<x.shape[0] {
                    let base = image * c * hw
                    for i in 0..<hw { norms[i] = 0 }
                    for ch in 0..<c {
                        for i in 0..<hw { norms[i] += xb[base + ch * hw + i] * xb[base + ch * hw + i] }
                    }
                    for i in 0..<hw { norms[i] = max(norms[i].squareRoot(), 1e-12) }
                    for ch in 0..<c {
                        for i in 0..<hw { yb[base + ch * hw + i] = xb[base + ch * hw + i] / norms[i] * scale[ch] }
                    }
                }
            }
        }
    }
}

/// What qfgaohao's VGG16 SSD applies to the conv4_3 source (`source_layer_add_ons.0`).
enum SourceNormalization: Sendable {
    case batchNorm(ChannelAffine)
    case scaledL2Norm(ScaledL2Norm)

    func apply(_ x: Tensor, into y: inout Tensor) {
        switch self {
        case let .batchNorm(affine): affine.apply(x, into: &y)
        case let .scaledL2Norm(norm): norm.apply(x, into: &y)
        }
    }

    /// The checkpoint tensors it was loaded from: `(key, values)`, each `[C]`.
    var tensors: [(String, [Float])] {
        switch self {
        case let .batchNorm(affine): return affine.original.map { (affine.name + "." + $0.suffix, $0.values) }
        case let .scaledL2Norm(norm): return [(norm.name + ".scale", norm.scale)]
        }
    }

    /// BatchNorm2d when `name.running_mean` exists, else ScaledL2Norm when `name.scale` exists.
    static func load(_ name: String, channels: Int, loader: inout WeightLoader) throws -> SourceNormalization {
        if !loader.has(name + ".running_mean") && loader.has(name + ".scale") {
            return .scaledL2Norm(ScaledL2Norm(name: name, scale: try loader.tensor(name + ".scale", [channels]).values))
        }
        return .batchNorm(try loader.batchNormAffine(name, channels: channels))
    }
}
