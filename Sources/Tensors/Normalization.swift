// Normalisations: SSD's L2Norm, row-wise softmax, and BatchNorm folding into a conv.
import Foundation

/// SSD's `L2Norm` layer: per spatial location, `y[c] = weight[c] * (x[c] / (sqrt(sum_c x[c]^2) + eps))`.
///
/// Input and output `[N, C, H, W]`; `weight` `[C]`. The division happens before the scale, as in
/// amdegroot/ssd.pytorch.
public func l2Norm(_ x: Tensor, weight: [Float], eps: Float = 1e-10) -> Tensor {
    var y = Tensor(shape: [0], data: [])
    l2Norm(x, weight: weight, eps: eps, into: &y)
    return y
}

/// `l2Norm` into a reused buffer.
public func l2Norm(_ x: Tensor, weight: [Float], eps: Float = 1e-10, into y: inout Tensor) {
    precondition(x.rank == 4 && weight.count == x.shape[1], "l2Norm expects [N, \(weight.count), H, W]")
    y.reshapeForOutput(x.shape)
    let n = x.shape[0], c = x.shape[1], hw = x.shape[2] * x.shape[3]
    x.data.withUnsafeBufferPointer { xb in
        y.data.withUnsafeMutableBufferPointer { yb in
            weight.withUnsafeBufferPointer { wb in
                guard let xp = xb.baseAddress, let yp = yb.baseAddress, let wp = wb.baseAddress else { return }
                Runtime.parallelFor(pieces: n) { image, _ in
                    let src = xp + image * c * hw, dst = yp + image * c * hw
                    // Channel-outer loops keep memory access contiguous; dst holds the running sums.
                    for i in 0..<hw { dst[i] = 0 }
                    for ch in 0..<c {
                        let row = src + ch * hw
                        for i in 0..<hw { dst[i] += row[i] * row[i] }
                    }
                    for i in 0..<hw { dst[i] = dst[i].squareRoot() + eps }
                    // The norm row lives in channel 0's slot; read it before overwriting channel 0 last.
                    for ch in stride(from: c - 1, through: 0, by: -1) {
                        let row = src + ch * hw, out = dst + ch * hw
                        for i in 0..<hw { out[i] = wp[ch] * (row[i] / dst[i]) }
                    }
                }
            }
        }
    }
}

/// Numerically stable softmax of each row of a row-major `[rows, cols]` matrix, in place.
public func softmax(rows: Int, cols: Int, _ data: inout [Float]) {
    precondition(data.count >= rows * cols, "softmax buffer smaller than rows * cols")
    if cols == 0 { return }
    data.withUnsafeMutableBufferPointer { buf in
        guard let p = buf.baseAddress else { return }
        for r in 0..<rows {
            let row = p + r * cols
            var m = row[0]
            for j in 1..<cols { m = max(m, row[j]) }
            var sum: Float = 0
            for j in 0..<cols {
                let e = expf(row[j] - m)
                row[j] = e
                sum += e
            }
            for j in 0..<cols { row[j] /= sum }
        }
    }
}

/// Folds an inference-mode BatchNorm that follows a convolution into the convolution's weight and bias.
///
/// With `s[o] = gamma[o] / sqrt(variance[o] + eps)`: `weight'[o, ...] = weight[o, ...] * s[o]` and
/// `bias'[o] = (bias[o] - mean[o]) * s[o] + beta[o]` (bias 0 when nil), which equals
/// `gamma * (conv(x) - mean) / sqrt(var + eps) + beta`.
/// - Parameters:
///   - weight: `[O, ...]` any rank >= 1.
/// - Returns: The folded weight (same shape) and bias `[O]`.
public func foldBatchNorm(weight: Tensor, bias: [Float]?, gamma: [Float], beta: [Float], mean: [Float],
                          variance: [Float], eps: Float = 1e-5) -> (weight: Tensor, bias: [Float]) {
    let o = weight.shape.first ?? 0
    precondition(gamma.count == o && beta.count == o && mean.count == o && variance.count == o
                 && (bias == nil || bias?.count == o), "BatchNorm parameters must have \(o) entries")
    let per = o == 0 ? 0 : weight.count / o
    var w = weight
    var b = [Float](repeating: 0, count: o)
    for c in 0..<o {
        let s = gamma[c] / (variance[c] + eps).squareRoot()
        for i in c * per..<(c + 1) * per { w.data[i] *= s }
        b[c] = ((bias?[c] ?? 0) - mean[c]) * s + beta[c]
    }
    return (w, b)
}

/// `l2Norm` on one image in NHWC layout (`pixels` rows of `channels` contiguous floats), same arithmetic per
/// element (the sum over channels in channel order).
public func l2NormNHWC(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, weight: [Float], eps: Float,
                       channels c: Int, pixels: Int) {
    precondition(weight.count == c, "l2NormNHWC expects \(weight.count) channels, got \(c)")
    weight.withUnsafeBufferPointer { w in
        for p in 0..<pixels {
            let row = x + p * c, out = y + p * c
            var sum: Float = 0
            for ch in 0..<c { sum += row[ch] * row[ch] }
            let norm = sum.squareRoot() + eps
            for ch in 0..<c { out[ch] = w[ch] * (row[ch] / norm) }
        }
    }
}
