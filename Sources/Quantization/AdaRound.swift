import COpenBLAS
import Foundation
import Parallelism
import Tensors

/// Settings of AdaRound (`--method adaround`, `multipoint-adaround`); the defaults are the paper's, except the
/// iteration count and the learning rate (see `iterations`).
public struct AdaRoundOptions: Sendable, Equatable {
    /// Adam steps per layer. The paper (and AIMET) run 10 000 mini-batch steps; here every step is an exact
    /// full-batch gradient over all calibration inputs (through the Gram matrix, see `AdaRound`), so fewer steps
    /// with the larger learning rate below are used; whether 1 000 reach the rounding 10 000 would is not measured
    /// yet (notes/dfq-adaround.md). Cost: `iterations · Σ_layers 2·C·d²` flops.
    public var iterations: Int
    /// Adam's step size on `V`.
    public var learningRate: Double
    /// `λ`, the weight of the rounding regulariser.
    public var regularization: Double
    /// `β` of the regulariser, annealed linearly from `betaStart` to `betaEnd` after the warm-up.
    public var betaStart: Double
    public var betaEnd: Double
    /// The fraction of the steps without the regulariser (reconstruction only).
    public var warmup: Double

    /// The rectified sigmoid's stretch: `h(V) = clip(σ(V)(ζ − γ) + γ, 0, 1)`.
    public static let zeta = 1.1
    public static let gamma = -0.1

    public init(iterations: Int = 1000, learningRate: Double = 0.01, regularization: Double = 0.01,
                betaStart: Double = 20, betaEnd: Double = 2, warmup: Double = 0.2) {
        self.iterations = iterations
        self.learningRate = learningRate
        self.regularization = regularization
        self.betaStart = betaStart
        self.betaEnd = betaEnd
        self.warmup = warmup
    }
}

/// AdaRound (Nagel et al. 2020): per layer, learn whether each weight rounds down or up.
///
/// With the scale `s` fixed (per channel, RTN's min-max scale), weight `w` becomes `s · clip(⌊w/s⌋ + h(V), −M, M)`
/// with `h` the rectified sigmoid; `V` starts where `h(V) = w/s − ⌊w/s⌋` (the float value) and minimises
///
///     L(V) = (1/N) Σ_c (w_c − w̃_c)ᵀ H (w_c − w̃_c) + λ Σ (1 − |2h − 1|^β)
///
/// by Adam (β₁ 0.9, β₂ 0.999, ε 1e-8), where `H = XᵀX` is the layer's calibration Gram matrix over its `N` input
/// rows: the first term is exactly `(1/N) ||W X − W̃ X||²`, the reconstruction error on the layer's calibration
/// inputs (float inputs, as in the paper's basic form), without keeping `X`. The regulariser is off for the first
/// `warmup` fraction of the steps, then `β` falls linearly from 20 to 2, pushing every `h` to 0 or 1. The final
/// rounding is `⌊w/s⌋ + [V ≥ 0]`. Rows are independent (both terms and Adam are per element), so rows are
/// optimised in fixed chunks in parallel: the result does not depend on the thread count.
///
/// `quantize` keeps, per channel, whichever of the learned and the nearest rounding has the lower output error
/// (so AdaRound is never worse than RTN on the calibration data); `refineLastPoints` is the multipoint form.
enum AdaRound {
    /// The learned codes of `m` rows `targets [m, d]` with scales `[m]` on one Gram matrix (`rows` = N). Also
    /// returns `h(V)` at the end (tests).
    static func optimize(targets t: [Double], scales s: [Double], count m: Int, gram: GramMatrix, rows: Double,
                         maxLevel: Int, options o: AdaRoundOptions) -> (codes: [Int8], h: [Double]) {
        let d = gram.dimension
        let zeta = AdaRoundOptions.zeta, gamma = AdaRoundOptions.gamma, span = zeta - gamma
        let bigM = Double(maxLevel)
        var base = [Double](repeating: 0, count: m * d), v = [Double](repeating: 0, count: m * d)
        for r in 0..<m {
            for j in 0..<d {
                let i = r * d + j
                guard s[r] > 0 else { v[i] = -10; continue }
                let x = t[i] / s[r], f = x.rounded(.down), rest = x - f
                base[i] = f
                v[i] = Foundation.log((rest - gamma) / (zeta - rest))
            }
        }
        var m1 = [Double](repeating: 0, count: m * d), m2 = m1
        var delta = m1, g = m1, sig = m1
        let beta1 = 0.9, beta2 = 0.999, eps = 1e-8
        let warm = Int((o.warmup * Double(o.iterations)).rounded(.down))
        QuadraticForms.pinBLAS()
        for it in 0..<o.iterations {
            for i in 0..<(m * d) {
                let sg = 1 / (1 + Foundation.exp(-v[i]))
                sig[i] = sg
                let h = Swift.min(Swift.max(sg * span + gamma, 0), 1)
                let q = Swift.min(Swift.max(base[i] + h, -bigM), bigM)
                delta[i] = s[i / d] * q - t[i]
            }
            // g = δ H (H symmetric): the gradient of Σ δᵀHδ is 2 H δ.
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(d), Int32(d), 1, delta, Int32(d),
                        gram.values, Int32(d), 0, &g, Int32(d))
            let regularised = it >= warm
            let beta: Double
            if regularised {
                let rel = Double(it - warm) / Double(Swift.max(o.iterations - warm, 1))
                beta = o.betaEnd + (o.betaStart - o.betaEnd) * Swift.max(0, 1 - rel)
            } else {
                beta = o.betaStart
            }
            let step = Double(it + 1)
            let c1 = 1 - Foundation.pow(beta1, step), c2 = 1 - Foundation.pow(beta2, step)
            for i in 0..<(m * d) {
                let sg = sig[i], raw = sg * span + gamma
                let h = Swift.min(Swift.max(raw, 0), 1)
                let q = base[i] + h
                var gh = (q >= -bigM && q <= bigM) ? 2 * g[i] / rows * s[i / d] : 0
                if regularised {
                    let u = 2 * h - 1
                    if u != 0 {
                        gh -= o.regularization * beta * Foundation.pow(Swift.abs(u), beta - 1) * (u > 0 ? 2 : -2)
                    }
                }
                let gv = (raw >= 0 && raw <= 1) ? gh * span * sg * (1 - sg) : 0
                m1[i] = beta1 * m1[i] + (1 - beta1) * gv
                m2[i] = beta2 * m2[i] + (1 - beta2) * gv * gv
                v[i] -= o.learningRate * (m1[i] / c1) / ((m2[i] / c2).squareRoot() + eps)
            }
        }
        var codes = [Int8](repeating: 0, count: m * d), h = [Double](repeating: 0, count: m * d)
        for i in 0..<(m * d) {
            h[i] = Swift.min(Swift.max(1 / (1 + Foundation.exp(-v[i])) * span + gamma, 0), 1)
            guard s[i / d] > 0 else { continue }
            codes[i] = Int8(Swift.min(Swift.max(base[i] + (v[i] >= 0 ? 1 : 0), -bigM), bigM))
        }
        return (codes, h)
    }

    /// Learned codes for the rows `channels` of a layer (targets `[channels.count, d]`, scales per listed channel):
    /// chunks of ≤ 64 rows of one group, optimised in parallel.
    static func optimize(layer: AllocationLayer, channels: [Int], targets: [Double], scales: [Double], rows: Double,
                         maxLevel: Int, options: AdaRoundOptions, threads: Int) -> [Int8] {
        let d = layer.dimension
        var byGroup: [Int: [Int]] = [:]
        for (i, c) in channels.enumerated() { byGroup[layer.group(of: c), default: []].append(i) }
        var chunks: [(group: Int, members: [Int])] = []
        for g in byGroup.keys.sorted() {
            let members = byGroup[g] ?? []
            for start in stride(from: 0, to: members.count, by: 64) {
                chunks.append((g, Array(members[start..<Swift.min(members.count, start + 64)])))
            }
        }
        var out = [Int8](repeating: 0, count: channels.count * d)
        out.withUnsafeMutableBufferPointer { buf in
            let op = SendablePointer(base: buf.baseAddress!)
            let work = chunks
            parallelBlocks(count: work.count, blockSize: 1, threads: threads) { range in
                for index in range {
                    let (g, members) = work[index]
                    var t = [Double](repeating: 0, count: members.count * d)
                    for (k, i) in members.enumerated() { for j in 0..<d { t[k * d + j] = targets[i * d + j] } }
                    let codes = optimize(targets: t, scales: members.map { scales[$0] }, count: members.count,
                                         gram: layer.grams[g], rows: rows, maxLevel: maxLevel, options: options).codes
                    for (k, i) in members.enumerated() { for j in 0..<d { op.base[i * d + j] = codes[k * d + j] } }
                }
            }
        }
        return out
    }

    /// AdaRound of a whole layer at one point per channel (RTN's scales); per channel the learned rounding is
    /// kept unless nearest rounding has the lower output error.
    static func quantize(layer: AllocationLayer, grid: QuantGrid, rows: Double, options: AdaRoundOptions,
                         threads: Int) throws -> LayerAllocation {
        let rtn = try WeightQuantizer.quantize(weights: layer.weights, channels: layer.channels,
                                               dimension: layer.dimension, grid: grid, method: .rtn, threads: threads)
        let all = Array(0..<layer.channels)
        let learned = optimize(layer: layer, channels: all, targets: layer.weights.map(Double.init),
                               scales: rtn.scales.map(Double.init), rows: rows, maxLevel: grid.maxLevel,
                               options: options, threads: threads)
        let d = layer.dimension
        let nearestErrors = errors(layer, codes: rtn.codes, scales: rtn.scales, threads: threads)
        let learnedErrors = errors(layer, codes: learned, scales: rtn.scales, threads: threads)
        var codes = rtn.codes
        var channelErrors = nearestErrors
        for c in all where learnedErrors[c] < nearestErrors[c] {
            for j in 0..<d { codes[c * d + j] = learned[c * d + j] }
            channelErrors[c] = learnedErrors[c]
        }
        let weights = QuantizedWeights(channels: layer.channels, dimension: d, grid: grid, pointCounts: rtn.pointCounts,
                                       scales: rtn.scales, codes: codes)
        return LayerAllocation(name: layer.name, weights: weights, channelErrors: channelErrors,
                               channelEnergies: energies(layer, threads: threads))
    }

    /// Multipoint with learned rounding: each channel's **last** point `a_n q_n` gets its codes re-learned (scale
    /// `a_n` fixed) against the residual the earlier points leave, `r = w − Σ_{i<n} a_i q_i`; a one-point channel is
    /// plain AdaRound of `w`. Kept per channel only where it lowers the output error, so the allocation's error
    /// (and its bits) never get worse.
    static func refineLastPoints(_ allocation: LayerAllocation, layer: AllocationLayer, rows: Double,
                                 options: AdaRoundOptions, threads: Int) -> LayerAllocation {
        let q = allocation.weights, d = q.dimension
        let offsets = q.rowOffsets
        let channels = (0..<q.channels).filter { q.scales[offsets[$0] + q.pointCounts[$0] - 1] > 0 }
        guard !channels.isEmpty else { return allocation }
        var targets = [Double](repeating: 0, count: channels.count * d), scales: [Double] = []
        for (k, c) in channels.enumerated() {
            let last = offsets[c] + q.pointCounts[c] - 1
            for j in 0..<d {
                var r = Double(layer.weights[c * d + j])
                for row in offsets[c]..<last { r -= Double(q.scales[row]) * Double(q.codes[row * d + j]) }
                targets[k * d + j] = r
            }
            scales.append(Double(q.scales[last]))
        }
        let learned = optimize(layer: layer, channels: channels, targets: targets, scales: scales, rows: rows,
                               maxLevel: q.grid.maxLevel, options: options, threads: threads)
        var codes = q.codes
        for (k, c) in channels.enumerated() {
            let last = offsets[c] + q.pointCounts[c] - 1
            for j in 0..<d { codes[last * d + j] = learned[k * d + j] }
        }
        let candidate = QuantizedWeights(channels: q.channels, dimension: d, grid: q.grid, pointCounts: q.pointCounts,
                                         scales: q.scales, codes: codes)
        let newErrors = reconstructionErrors(layer, candidate.reconstructed(), threads: threads)
        var channelErrors = allocation.channelErrors
        var kept = q.codes
        for c in channels where newErrors[c] < channelErrors[c] {
            channelErrors[c] = newErrors[c]
            for row in offsets[c]..<(offsets[c] + q.pointCounts[c]) {
                for j in 0..<d { kept[row * d + j] = codes[row * d + j] }
            }
        }
        let weights = QuantizedWeights(channels: q.channels, dimension: d, grid: q.grid, pointCounts: q.pointCounts,
                                       scales: q.scales, codes: kept)
        return LayerAllocation(name: layer.name, weights: weights, channelErrors: channelErrors,
                               channelEnergies: allocation.channelEnergies)
    }

    /// `e_c = (w_c − s_c q_c)ᵀ H (w_c − s_c q_c)` for one-point codes.
    static func errors(_ layer: AllocationLayer, codes: [Int8], scales: [Float], threads: Int) -> [Double] {
        let d = layer.dimension
        return LayerState.forms(layer: layer, channels: Array(0..<layer.channels), threads: threads) { c, row in
            let s = Double(scales[c])
            for j in 0..<d { row[j] = Double(layer.weights[c * d + j]) - s * Double(codes[c * d + j]) }
        }
    }

    /// `e_c` of fake-quant weights `Ŵ [C, d]`.
    static func reconstructionErrors(_ layer: AllocationLayer, _ wHat: [Float], threads: Int) -> [Double] {
        let d = layer.dimension
        return LayerState.forms(layer: layer, channels: Array(0..<layer.channels), threads: threads) { c, row in
            for j in 0..<d { row[j] = Double(layer.weights[c * d + j]) - Double(wHat[c * d + j]) }
        }
    }

    static func energies(_ layer: AllocationLayer, threads: Int) -> [Double] {
        let d = layer.dimension
        return LayerState.forms(layer: layer, channels: Array(0..<layer.channels), threads: threads) { c, row in
            for j in 0..<d { row[j] = Double(layer.weights[c * d + j]) }
        }
    }
}
