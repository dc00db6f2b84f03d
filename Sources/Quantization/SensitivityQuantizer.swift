import SSD
import Tensors

/// Weight quantization of whole convolutions of an `SSDModel`, built on the layer-level quantizers (RTN and
/// the multipoint allocator), installing the fake-quant weights `Ŵ` with `replaceConvolution`.
///
/// This is the small model-level loop the sensitivity and demo jobs need (weights only; activations are
/// fake-quantized through a `ConvInputHook`, see `CalibrationStatistics.activationHook`).
public enum LayerwiseQuantizer {
    public enum Method: String, Sendable, CaseIterable, Codable {
        /// Per-channel min-max round-to-nearest, one point per channel: average bits = `b`.
        case rtn
        /// Multipoint: points allocated by `MultipointAllocator` (output error weighted by the calibration Gram
        /// matrices) up to an average-bits budget.
        case multipoint
    }

    /// One conv's weight as the quantizers see it: `W [O, d]` row-major with `d = C/groups · kH · kW`.
    static func matrix(_ unit: ConvUnit) -> (weights: [Float], channels: Int, dimension: Int) {
        (unit.conv.weight.data, unit.conv.outChannels, unit.conv.patchLength)
    }

    /// Result of quantizing a set of layers.
    public struct Outcome: Sendable {
        public let model: SSDModel
        /// Per quantized layer accounting (bits, points).
        public let accounting: ModelAccounting
    }

    /// Quantizes the weights of the convs named `names` (all convs when nil).
    /// - Parameters:
    ///   - bits: the grid's bit width `b` (2…8).
    ///   - averageBits: multipoint's budget over the quantized layers (≥ `b`); ignored for RTN.
    ///   - grams: calibration Gram matrices (required for multipoint).
    /// - Throws: `QuantizationError` (bad bits, missing Gram matrices, budget below `b`), `SSDModelError`.
    public static func quantize(_ model: SSDModel, layers names: Set<String>? = nil, method: Method, bits: Int,
                                averageBits: Double? = nil, grams: [String: [GramMatrix]] = [:],
                                threads: Int = defaultQuantizationThreads) throws -> Outcome {
        let grid = try QuantGrid(bits: bits)
        let units = model.convolutions.filter { names?.contains($0.name) ?? true }
        var quantized: [(name: String, weights: QuantizedWeights, bias: [Float])] = []
        switch method {
        case .rtn:
            for unit in units {
                let (w, c, d) = matrix(unit)
                let q = try WeightQuantizer.quantize(weights: w, channels: c, dimension: d, grid: grid, method: .rtn,
                                                     threads: threads)
                quantized.append((unit.name, q, unit.conv.bias ?? []))
            }
        case .multipoint:
            var layers: [AllocationLayer] = []
            for unit in units {
                guard let g = grams[unit.name] else {
                    throw QuantizationError.invalidShape("no calibration Gram matrices for \(unit.name)")
                }
                let (w, c, d) = matrix(unit)
                layers.append(try AllocationLayer(name: unit.name, weights: w, channels: c, dimension: d, grams: g))
            }
            let options = AllocationOptions(grid: grid, budget: .averageBits(averageBits ?? Double(bits)),
                                            threads: threads)
            let result = try MultipointAllocator.allocate(layers, options: options)
            for (unit, layer) in zip(units, result.layers) {
                quantized.append((unit.name, layer.weights, unit.conv.bias ?? []))
            }
        }
        var out = model
        var accounting: [LayerAccounting] = []
        for (unit, q) in zip(units, quantized) {
            let weight = Tensor(shape: unit.conv.weight.shape, data: q.weights.reconstructed())
            try out.replaceConvolution(named: q.name, weight: weight,
                                       bias: q.bias.isEmpty ? [Float](repeating: 0, count: unit.conv.outChannels) : q.bias)
            accounting.append(LayerAccounting(name: q.name, weights: q.weights, floatParameters: q.bias.count))
        }
        return Outcome(model: out, accounting: ModelAccounting(layers: accounting))
    }
}
