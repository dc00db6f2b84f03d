/// Output errors of already-quantized weights (any method), from the calibration Gram matrices.
enum OutputError {
    /// `Σ_c (w_c - ŵ_c)ᵀ H (w_c - ŵ_c) / Σ_c w_cᵀ H w_c` (0 for a layer with zero output energy).
    static func relative(_ layer: AllocationLayer, _ q: QuantizedWeights, threads: Int) -> Double {
        relative(layer, reconstructed: q.reconstructed(), threads: threads)
    }

    /// The same for fake-quant weights `Ŵ [C, d]` in the layer's layout (e.g. OCS codes folded back).
    static func relative(_ layer: AllocationLayer, reconstructed wHat: [Float], threads: Int) -> Double {
        precondition(wHat.count == layer.weights.count, "reconstructed weights must be [C, d]")
        let d = layer.dimension
        let all = Array(0..<layer.channels)
        let energies = LayerState.forms(layer: layer, channels: all, threads: threads) { c, row in
            for j in 0..<d { row[j] = Double(layer.weights[c * d + j]) }
        }
        let errors = LayerState.forms(layer: layer, channels: all, threads: threads) { c, row in
            for j in 0..<d { row[j] = Double(layer.weights[c * d + j]) - Double(wHat[c * d + j]) }
        }
        let energy = energies.reduce(0, +)
        return energy > 0 ? errors.reduce(0, +) / energy : 0
    }
}
