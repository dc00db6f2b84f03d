import SSD

/// Per-tensor fake quantization of activations (a quantized layer's input), `b` bits (default 8).
///
/// Two grids, chosen from the calibration data (`RangeObserver.isNonNegative`):
/// - **unsigned** for a non-negative tensor (e.g. after ReLU): codes `0 … 2^b - 1`, scale `s = clip / (2^b - 1)`.
///   This is the asymmetric (zero-point) form with the range extended to include 0, as PyTorch's observers do,
///   so the zero point is 0 and zero padding stays exact; all levels go to `[0, clip]`.
/// - **symmetric** otherwise: codes `-(2^(b-1) - 1) … 2^(b-1) - 1`, `s = clip / (2^(b-1) - 1)`.
///
/// `x̂ = s · clamp(round(x / s), qmin, qmax)`, ties half away from zero. A zero clip (all-zero calibration)
/// maps everything to 0.
public struct ActivationQuantizer: Sendable, Equatable, Codable {
    public let bits: Int
    public let isUnsigned: Bool
    /// The clipping threshold: the largest representable magnitude.
    public let clip: Float
    public let scale: Float
    public let qmin: Int
    public let qmax: Int

    /// - Throws: `QuantizationError.unsupportedBits` unless `bits` is in 2...8, `.invalidShape` for a bad clip.
    public init(bits: Int, clip: Float, unsigned: Bool) throws {
        guard QuantGrid.supportedBits.contains(bits) else { throw QuantizationError.unsupportedBits(bits) }
        guard clip.isFinite, clip >= 0 else { throw QuantizationError.invalidShape("activation clip \(clip) must be ≥ 0") }
        self.bits = bits
        self.isUnsigned = unsigned
        self.clip = clip
        qmax = unsigned ? (1 << bits) - 1 : (1 << (bits - 1)) - 1
        qmin = unsigned ? 0 : -qmax
        scale = clip / Float(qmax)
    }

    /// The grid as the networks apply it (`InputQuantization`: the one implementation of the formula).
    public var grid: InputQuantization.Grid { .init(scale: scale, qmin: Float(qmin), qmax: Float(qmax)) }

    @inline(__always)
    public func fakeQuantize(_ x: Float) -> Float { grid.apply(x) }

    /// Fake-quantizes `values` in place.
    public func fakeQuantize(_ values: inout [Float]) {
        let g = grid
        values.withUnsafeMutableBufferPointer { b in
            guard let p = b.baseAddress else { return }
            g.apply(p, p, count: b.count)
        }
    }
}

/// How an activation clip is chosen from the observed statistics.
public enum ActivationCalibration: Sendable, Equatable {
    /// `clip = max |x|`.
    case minMax
    /// `clip` = the given percentile (in (0, 100], e.g. 99.99) of `|x|`, interpolated inside a histogram bin.
    case percentile(Double)
    /// `clip` minimising the expected squared quantization error over the histogram (see `RangeObserver`).
    case mse
}
