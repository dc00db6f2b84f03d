import Foundation

/// The symmetric integer grid of a `b`-bit weight code: `G_b = {-(2^(b-1)-1), …, 2^(b-1)-1}`.
///
/// The grid is symmetric (it drops the two's-complement value `-2^(b-1)`) so that a scale `a > 0` and its
/// codes describe `w` and `-w` equally well; `b = 2` is the ternary grid `{-1, 0, 1}`. Every code fits in
/// an `Int8` for `b ≤ 8`.
public struct QuantGrid: Sendable, Hashable, CustomStringConvertible {
    /// Smallest and largest supported code widths.
    public static let supportedBits: ClosedRange<Int> = 2...8

    /// Bits per code, `b`.
    public let bits: Int

    /// Largest code magnitude, `M = 2^(b-1) - 1` (1 for b = 2, 7 for b = 4, 127 for b = 8).
    public let maxLevel: Int

    /// - Throws: `QuantizationError.unsupportedBits` unless `bits` is in 2...8.
    public init(bits: Int) throws {
        guard Self.supportedBits.contains(bits) else { throw QuantizationError.unsupportedBits(bits) }
        self.bits = bits
        self.maxLevel = (1 << (bits - 1)) - 1
    }

    /// `clip(round(x), -M, M)` with ties rounded half away from zero (`x.rounded()`), the rounding used
    /// everywhere in this module (RTN, the greedy sweep's breakpoints, activations).
    @inline(__always)
    public func code(_ x: Double) -> Int8 {
        let m = Double(maxLevel)
        return Int8(Swift.min(Swift.max(x.rounded(.toNearestOrAwayFromZero), -m), m))
    }

    public var description: String { "G_\(bits) = {-\(maxLevel)…\(maxLevel)}" }
}

/// Errors from bad quantization settings (user input); each message says what was expected.
public enum QuantizationError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case unsupportedBits(Int)
    case budgetBelowMinimum(requested: Double, minimum: Double)
    case invalidMaxError(Double)
    case invalidShape(String)
    case invalidPercentile(Double)
    case nonFiniteWeights(channel: Int)
    case unknownLayer(String, known: [String])
    case missingCalibration(String)
    /// A setting that does not fit the method (the message says what was expected).
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .unsupportedBits(let b):
            return "unsupported bit width \(b): weight and activation codes need 2...8 bits"
        case .budgetBelowMinimum(let requested, let minimum):
            return "average-bits budget \(requested) is below the minimum \(minimum) "
                + "(one point per channel at the chosen bit width); raise --avg-bits to at least \(minimum)"
        case .invalidMaxError(let e):
            return "relative error threshold \(e) must be a finite number > 0"
        case .invalidShape(let what):
            return "invalid shape: \(what)"
        case .invalidPercentile(let p):
            return "percentile \(p) must be in (0, 100]"
        case .unknownLayer(let name, let known):
            return "unknown layer '\(name)': expected a conv name such as \(known.joined(separator: ", ")), or first/last"
        case .missingCalibration(let what):
            return "calibration statistics are missing \(what); run calibration on the layers first"
        case .invalidSetting(let what):
            return what
        case .nonFiniteWeights(let c):
            return "weights of output channel \(c) contain NaN or infinity; cannot quantize"
        }
    }
}

extension QuantizationError {
    public var errorDescription: String? { description }
}
