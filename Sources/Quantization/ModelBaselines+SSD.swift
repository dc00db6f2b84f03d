import SSD
import Tensors

extension ModelBaselines {
    /// The model's convolutions (execution order, BatchNorm folded) as baseline layers.
    /// - Parameters:
    ///   - grams: per conv name, its calibration Gram matrices `H_g = X_gᵀ X_g`, one per group (`[d · d]`
    ///     row-major Double each, as `Conv2D.accumulateInputGram` produces them).
    ///   - skip: conv names kept in float.
    /// - Throws: `QuantizationError.invalidShape` when a conv has no (or mis-sized) Gram matrices.
    public static func layers(of model: SSDModel, grams: [String: [[Double]]],
                              skip: Set<String> = []) throws -> [BaselineLayer] {
        try model.convolutions.filter { !skip.contains($0.name) }.map { unit in
            let conv = unit.conv
            guard let g = grams[unit.name] else {
                throw QuantizationError.invalidShape("no calibration Gram matrix for layer \(unit.name)")
            }
            let d = conv.patchLength
            let matrices = try g.map { try GramMatrix(dimension: d, values: $0) }
            let layer = try AllocationLayer(name: unit.name, weights: conv.weight.data, channels: conv.outChannels,
                                            dimension: d, grams: matrices)
            return try BaselineLayer(layer: layer, inputChannels: conv.inChannels / conv.groups,
                                     kernelSize: conv.kernelH * conv.kernelW, groups: conv.groups,
                                     floatParameters: conv.bias?.count ?? 0)
        }
    }

    /// Installs the fake-quant weights of `result` in a copy of `model` (biases unchanged).
    /// - Throws: `SSDModelError` when a layer name or shape does not match the model.
    public static func install(_ result: BaselineModelResult, into model: SSDModel) throws -> SSDModel {
        var out = model
        let units = Dictionary(model.convolutions.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        for layer in result.layers {
            guard let conv = units[layer.name] else { throw SSDModelError.unknownConvolution(name: layer.name) }
            try out.replaceConvolution(named: layer.name, weight: Tensor(shape: conv.weight.shape, data: layer.weights),
                                       bias: conv.bias ?? [Float](repeating: 0, count: conv.outChannels))
        }
        return out
    }
}
