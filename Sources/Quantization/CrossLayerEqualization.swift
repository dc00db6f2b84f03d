import Foundation
import SSD
import Tensors

/// Cross-layer equalization (DFQ, Nagel et al. 2019): for two consecutive convs `y = W2 f(W1 x + b1)` with `f`
/// commuting with positive per-channel scales (identity, ReLU; VGG's max pools too), output channel `i` of the
/// first is divided by `s_i` and input channel `i` of the second multiplied by `s_i`; the network computes the
/// same function. With `r1_i = max|W1[i, :]|` (the first conv's output-channel range) and
/// `r2_i = max|W2[:, i, :, :]|` (the second conv's input-channel range, over the output channels of its group),
/// `s_i = sqrt(r1_i · r2_i) / r2_i` makes both ranges `sqrt(r1_i · r2_i)`: per-channel ranges become even, which
/// is what a per-tensor — and, less so, a per-channel — grid needs. A conv in two pairs (the middle of a chain,
/// e.g. MobileNetV1's dw -> pw -> dw) is equalized against both, so the pairs are swept — forwards, then
/// backwards, alternating, which spreads a change along a long chain twice as fast as one direction — until no
/// scale moves by more than `tolerance` in log (or `maxSweeps`).
///
/// Choices (docs/quantizer.md, "DFQ"):
/// - ReLU6 pairs are **skipped**: `relu6(y / s) ≠ relu6(y) / s` (the clip at 6 would have to become `6 / s_i` per
///   channel, which neither the model file nor the int8 engine's fused clip can hold), so equalizing them would
///   change the float network. mb2-ssd-lite therefore only equalizes its linear projection -> next-block pairs.
/// - Residual blocks: only pairs whose first output feeds nothing but the second (`SSDModel.consecutiveConvPairs`):
///   never across an add, never a conv whose output is a detection source.
/// - Depthwise convs take part on either side (their channel `i` filter is both input and output channel `i`).
/// - A channel with a zero range on either side keeps `s_i = 1`.
public enum CrossLayerEqualization {
    /// What `equalize` did.
    public struct Report: Sendable {
        /// The pairs equalized, in execution order.
        public let pairs: [ConvPair]
        /// Pairs left alone and why (ReLU6).
        public let skipped: [(pair: ConvPair, reason: String)]
        /// Sweeps run.
        public let sweeps: Int
        /// `max_i |log s_i|` of the last sweep (0 once converged).
        public let lastChange: Double
    }

    /// Equalizes every eligible pair of `model`.
    /// - Parameters:
    ///   - maxSweeps: bound on the passes over all pairs.
    ///   - tolerance: stop when every scale of a sweep is within `exp(±tolerance)` of 1.
    /// - Throws: `QuantizationError.invalidShape` if a pair's channel counts do not match (a split model).
    public static func equalize(_ model: SSDModel, maxSweeps: Int = 1000,
                                tolerance: Double = 1e-5) throws -> (model: SSDModel, report: Report) {
        var convs: [String: Conv2D] = [:]
        for unit in model.convolutions {
            guard unit.inputChannelMap == nil else {
                throw QuantizationError.invalidShape("\(unit.name) reads a split input; equalize before splitting")
            }
            convs[unit.name] = unit.conv
        }
        var eligible: [ConvPair] = [], skipped: [(ConvPair, String)] = []
        for pair in model.consecutiveConvPairs {
            switch pair.activation {
            case .identity, .relu: eligible.append(pair)
            case .relu6: skipped.append((pair, "ReLU6: a per-channel scale moves its clip at 6"))
            }
        }
        var weights: [String: [Double]] = [:], biases: [String: [Double]] = [:]
        for pair in eligible {
            for name in [pair.first, pair.second] where weights[name] == nil {
                guard let conv = convs[name] else { continue }
                weights[name] = conv.weight.data.map(Double.init)
                biases[name] = (conv.bias ?? [Float](repeating: 0, count: conv.outChannels)).map(Double.init)
            }
        }
        var sweeps = 0, change = 0.0
        repeat {
            change = 0
            for pair in sweeps % 2 == 0 ? eligible : eligible.reversed() {
                guard let c1 = convs[pair.first], let c2 = convs[pair.second] else { continue }
                guard c1.outChannels == c2.inChannels else {
                    throw QuantizationError.invalidShape("\(pair.first) has \(c1.outChannels) outputs, "
                        + "\(pair.second) \(c2.inChannels) inputs")
                }
                let s = scales(first: weights[pair.first] ?? [], c1, second: weights[pair.second] ?? [], c2)
                for v in s where v > 0 { change = Swift.max(change, Swift.abs(Foundation.log(v))) }
                var w1 = weights[pair.first] ?? [], b1 = biases[pair.first] ?? [], w2 = weights[pair.second] ?? []
                apply(s, first: &w1, bias: &b1, c1, second: &w2, c2)
                weights[pair.first] = w1
                biases[pair.first] = b1
                weights[pair.second] = w2
            }
            sweeps += 1
        } while change > tolerance && sweeps < maxSweeps
        var out = model
        for (name, w) in weights.sorted(by: { $0.key < $1.key }) {
            guard let conv = convs[name] else { continue }
            try out.replaceConvolution(named: name, weight: Tensor(shape: conv.weight.shape, data: w.map { Float($0) }),
                                       bias: (biases[name] ?? []).map { Float($0) })
        }
        return (out, Report(pairs: eligible, skipped: skipped, sweeps: sweeps, lastChange: change))
    }

    /// `max|W[o, :]|` per output channel of a conv (weights `[O, d]`).
    static func outputRanges(_ w: [Double], _ conv: Conv2D) -> [Double] {
        let d = conv.patchLength
        return (0..<conv.outChannels).map { o in w[o * d..<(o + 1) * d].reduce(0) { Swift.max($0, Swift.abs($1)) } }
    }

    /// `max|W[:, i, :, :]|` per input channel `i` (over the output channels of `i`'s group).
    static func inputRanges(_ w: [Double], _ conv: Conv2D) -> [Double] {
        let k = conv.kernelH * conv.kernelW, perGroupIn = conv.inChannels / conv.groups
        let perGroupOut = conv.outChannels / conv.groups, d = conv.patchLength
        var r = [Double](repeating: 0, count: conv.inChannels)
        for o in 0..<conv.outChannels {
            let g = o / perGroupOut
            for local in 0..<perGroupIn {
                var m = r[g * perGroupIn + local]
                for j in 0..<k { m = Swift.max(m, Swift.abs(w[o * d + local * k + j])) }
                r[g * perGroupIn + local] = m
            }
        }
        return r
    }

    /// `s_i = sqrt(r1_i · r2_i) / r2_i` (1 where either range is 0).
    static func scales(first w1: [Double], _ c1: Conv2D, second w2: [Double], _ c2: Conv2D) -> [Double] {
        let r1 = outputRanges(w1, c1), r2 = inputRanges(w2, c2)
        return zip(r1, r2).map { a, b in a > 0 && b > 0 ? (a * b).squareRoot() / b : 1 }
    }

    /// `W1[i, :] /= s_i`, `b1_i /= s_i`, `W2[:, i, :, :] *= s_i`.
    static func apply(_ s: [Double], first w1: inout [Double], bias b1: inout [Double], _ c1: Conv2D,
                      second w2: inout [Double], _ c2: Conv2D) {
        let d1 = c1.patchLength
        for i in 0..<c1.outChannels where s[i] != 1 {
            for j in 0..<d1 { w1[i * d1 + j] /= s[i] }
            b1[i] /= s[i]
        }
        let k = c2.kernelH * c2.kernelW, perGroupIn = c2.inChannels / c2.groups
        let perGroupOut = c2.outChannels / c2.groups, d2 = c2.patchLength
        for o in 0..<c2.outChannels {
            let g = o / perGroupOut
            for local in 0..<perGroupIn {
                let v = s[g * perGroupIn + local]
                guard v != 1 else { continue }
                for j in 0..<k { w2[o * d2 + local * k + j] *= v }
            }
        }
    }
}
