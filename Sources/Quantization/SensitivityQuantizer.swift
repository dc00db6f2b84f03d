import SSD
import Tensors

/// The sensitivity and demo jobs' view of `ModelQuantizer`: weights only (activations are fake-quantized through
/// a `ConvInputHook`, see `CalibrationStatistics.activationHook`), a chosen subset of the convs, rtn or
/// multipoint.
public enum LayerwiseQuantizer {
    public enum Method: String, Sendable, CaseIterable, Codable {
        /// Per-channel min-max round-to-nearest, one point per channel: average bits = `b`.
        case rtn
        /// Multipoint: points allocated by `MultipointAllocator` (output error weighted by the calibration Gram
        /// matrices) up to an average-bits budget.
        case multipoint
    }

    /// Result of quantizing a set of layers.
    public struct Outcome: Sendable {
        public let model: SSDModel
        /// Per quantized layer accounting (bits, points).
        public let accounting: ModelAccounting
    }

    /// Quantizes the weights of the convs named `names` (all convs when nil) through
    /// `ModelQuantizer.quantize` (activations float, the other convs kept float).
    /// - Parameters:
    ///   - bits: the grid's bit width `b` (2…8).
    ///   - averageBits: multipoint's budget over the quantized layers (≥ `b`); ignored for RTN.
    ///   - grams: calibration Gram matrices (required for multipoint).
    /// - Throws: `QuantizationError` (bad bits, missing Gram matrices, budget below `b`), `SSDModelError`.
    public static func quantize(_ model: SSDModel, layers names: Set<String>? = nil, method: Method, bits: Int,
                                averageBits: Double? = nil, grams: [String: [GramMatrix]] = [:],
                                threads: Int = defaultQuantizationThreads) throws -> Outcome {
        let skip = names.map { selected in model.convolutions.map(\.name).filter { !selected.contains($0) } } ?? []
        let options = ModelQuantizationOptions(
            method: method == .rtn ? .rtn : .multipoint, weightBits: bits, activationBits: 32,
            budget: method == .rtn ? nil : .averageBits(averageBits ?? Double(bits)), threads: threads)
        // RTN needs no calibration: without Gram matrices it reports no output error, as before.
        let q = try ModelQuantizer.quantize(model: model, statistics: CalibrationStatistics(grams: grams, ranges: [:]),
                                            skip: skip, options: options)
        return Outcome(model: q.model, accounting: ModelAccounting(layers: q.layers.map(\.accounting)))
    }
}
