import SSD
import Tensors

/// What every quantizer learns from calibration images (never the evaluation images): per convolution, the Gram
/// matrices `H_g = Σ X_gᵀ X_g` of its input (multipoint allocation, gptq, mixed precision's proxy, the reported
/// output errors) and the range of its input (activation fake-quant).
public struct CalibrationStatistics: Sendable {
    /// Conv name → one Gram matrix per group (`[d, d]` each).
    public let grams: [String: [GramMatrix]]
    /// Conv name → the observed range of its input.
    public let ranges: [String: RangeObserver]
    /// The number of calibration images behind the statistics (AdaRound normalises its loss by the input rows).
    public var imageCount: Int = 1

    /// Runs the float model once on every calibration image, observing each conv's input (`Calibrator`: heads
    /// reading the same tensor share one `H`). The one calibration pass of quantize, compare, demo and sensitivity.
    /// - Parameters:
    ///   - collectGrams: Gram matrices cost time and memory; rtn/mse need them only for the reported errors.
    ///   - progress: called with the number of images done.
    /// - Throws: `QuantizationError.invalidShape` for a non-finite Gram matrix.
    public static func collect(model: SSDModel, images: PreparedImages, collectGrams: Bool,
                               progress: ((Int) -> Void)? = nil) throws -> CalibrationStatistics {
        let calibrator = Calibrator(layers: model.quantizableLayers, grams: collectGrams, ranges: true)
        var workspace = SSDWorkspace()
        for (i, input) in images.inputs.enumerated() {
            calibrator.observe(input, model: model, workspace: &workspace)
            progress?(i + 1)
        }
        return try calibrator.statistics()
    }

    public init(grams: [String: [GramMatrix]], ranges: [String: RangeObserver]) {
        self.grams = grams
        self.ranges = ranges
    }

    /// Per-conv input fake quantizers at `bits` with min-max clips.
    public func activationQuantizers(bits: Int, calibration: ActivationCalibration = .minMax) throws
        -> [String: ActivationQuantizer] {
        try ranges.mapValues { try $0.quantizer(calibration, bits: bits) }
    }

    /// A conv input hook that fake-quantizes each conv's input with its quantizer (convs without one pass through).
    public static func activationHook(_ quantizers: [String: ActivationQuantizer]) -> ConvInputHook {
        inputQuantization(quantizers).hook
    }

    /// The quantizers as data, which both engines run (`SSDModel.forward(…, quantization:)`).
    public static func inputQuantization(_ quantizers: [String: ActivationQuantizer]) -> InputQuantization {
        InputQuantization(quantizers.mapValues(\.grid))
    }
}
