import SSD
import Tensors

/// Empirical bias correction (DFQ, Nagel et al. 2019): quantization shifts the mean of a conv's output,
/// `E[Ŵ x̂] ≠ E[W x]`, and that shift travels through the network. For each quantized conv, in execution order,
/// the correction adds `E[float output] − E[quantized output]` per output channel to its bias, both expectations
/// over the calibration images: the float one with the float network's input of that conv, the quantized one
/// with the quantized network's input (earlier layers quantized **and already corrected**, activations
/// fake-quantized as the model runs). After the correction a layer's per-channel output mean on the calibration
/// images equals the float network's.
///
/// A conv is linear, so its mean output is `E[y_o] = ŵ_o · E[patch] + b_o`: only the mean im2col patch of each
/// input (`meanPatch`, zero padding included) is needed, never a second convolution. The images are advanced
/// stage by stage (`SSDModel.advance`); a stage with `m` quantized convs runs `m + 1` times (one per conv, each
/// seeing the corrections before it, then once to move on), the float model once. Memory: one activation per
/// image and model.
public enum BiasCorrection {
    /// One corrected layer: the largest per-channel mean output error before the correction (the bias change).
    public struct LayerCorrection: Sendable {
        public let name: String
        public let maxShift: Double
        public let meanAbsShift: Double
    }

    /// `q` with every quantized layer's bias corrected on `images` (preprocessed `[1, 3, 300, 300]`).
    /// - Parameters:
    ///   - float: the float model `q` was quantized from (after cross-layer equalization, if that was applied).
    ///   - progress: called with (stages done, stages).
    public static func correct(_ q: QuantizedModel, float: SSDModel, images: [Tensor],
                               progress: ((Int, Int) -> Void)? = nil) throws
        -> (model: QuantizedModel, layers: [LayerCorrection]) {
        guard !images.isEmpty else { throw QuantizationError.missingCalibration("images (bias correction)") }
        let quantizedNames = Set(q.layers.map(\.name))
        let qhook = q.inputQuantization?.hook
        var model = q.model
        let floatConvs = Dictionary(float.convolutions.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        var fStates = images.map { float.startState($0) }
        var qStates = images.map { model.startState($0) }
        var ws = SSDWorkspace()
        var corrections: [LayerCorrection] = []
        var biases: [String: [Float]] = [:]
        let stages = float.stages
        for (k, stage) in stages.enumerated() {
            let names = stage.convolutions.filter { quantizedNames.contains($0) }
            if !names.isEmpty {
                let fAcc = MeanPatches(floatConvs.filter { names.contains($0.key) })
                let fHook: ConvInputHook = { name, x in fAcc.observe(name, x); return x }
                for i in fStates.indices { float.advance(&fStates[i], to: k + 1, workspace: &ws, hook: fHook) }
                for name in names {
                    guard let fConv = floatConvs[name],
                          let qConv = model.convolutions.first(where: { $0.name == name })?.conv else { continue }
                    let acc = MeanPatches([name: qConv])
                    let hook: ConvInputHook = { n, x in
                        let y = qhook?(n, x) ?? x
                        acc.observe(n, y)
                        return y
                    }
                    for i in qStates.indices {
                        var s = qStates[i]
                        model.advance(&s, to: k + 1, workspace: &ws, hook: hook)
                    }
                    let ef = meanOutputs(fConv, mean: fAcc.mean(name))
                    let eq = meanOutputs(qConv, mean: acc.mean(name))
                    let shift = zip(ef, eq).map { $0 - $1 }
                    let bias = zip(qConv.bias ?? [Float](repeating: 0, count: qConv.outChannels), shift).map {
                        Float(Double($0) + $1)
                    }
                    try model.replaceConvolution(named: name, weight: qConv.weight, bias: bias)
                    biases[name] = bias
                    corrections.append(LayerCorrection(
                        name: name, maxShift: shift.map(Swift.abs).max() ?? 0,
                        meanAbsShift: shift.map(Swift.abs).reduce(0, +) / Double(Swift.max(shift.count, 1))))
                }
            } else {
                for i in fStates.indices { float.advance(&fStates[i], to: k + 1, workspace: &ws) }
            }
            for i in qStates.indices { model.advance(&qStates[i], to: k + 1, workspace: &ws, hook: qhook) }
            progress?(k + 1, stages.count)
        }
        let layers = q.layers.map { l in
            QuantizedLayer(name: l.name, weightShape: l.weightShape, weights: l.weights,
                           inputChannelMap: l.inputChannelMap, bias: biases[l.name] ?? l.bias,
                           activation: l.activation, accounting: l.accounting)
        }
        return (QuantizedModel(model: model, layers: layers, floatLayers: q.floatLayers, accounting: q.accounting),
                corrections)
    }

    /// The mean im2col patch of `x` (`[1, C, H, W]`) for `conv`: `[C, kh, kw]`, entry `(c, ky, kx)` the mean over
    /// output positions of the input value that position's window reads there (0 where it reads padding).
    static func meanPatch(_ x: Tensor, conv: Conv2D) -> [Double] {
        let c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let kh = conv.kernelH, kw = conv.kernelW, s = conv.stride, p = conv.padding, dil = conv.dilation
        let outH = (h + 2 * p - dil * (kh - 1) - 1) / s + 1, outW = (w + 2 * p - dil * (kw - 1) - 1) / s + 1
        var out = [Double](repeating: 0, count: c * kh * kw)
        guard outH > 0, outW > 0 else { return out }
        let rowsOf: [[Int]] = (0..<kh).map { ky in
            (0..<outH).map { $0 * s + ky * dil - p }.filter { $0 >= 0 && $0 < h }
        }
        let colsOf: [[Int]] = (0..<kw).map { kx in
            (0..<outW).map { $0 * s + kx * dil - p }.filter { $0 >= 0 && $0 < w }
        }
        let positions = Double(outH * outW)
        x.data.withUnsafeBufferPointer { data in
            var columnSums = [Double](repeating: 0, count: w)
            for ch in 0..<c {
                let plane = ch * h * w
                for ky in 0..<kh {
                    for j in 0..<w { columnSums[j] = 0 }
                    for iy in rowsOf[ky] {
                        let row = plane + iy * w
                        for j in 0..<w { columnSums[j] += Double(data[row + j]) }
                    }
                    for kx in 0..<kw {
                        var sum = 0.0
                        for ix in colsOf[kx] { sum += columnSums[ix] }
                        out[(ch * kh + ky) * kw + kx] = sum / positions
                    }
                }
            }
        }
        return out
    }

    /// `E[y_o] = w_o · mean[group of o] + b_o` per output channel (`mean` from `meanPatch`, `[C_in, kh, kw]`).
    static func meanOutputs(_ conv: Conv2D, mean: [Double]) -> [Double] {
        let d = conv.patchLength, perGroupOut = conv.outChannels / conv.groups
        guard mean.count == conv.inChannels * conv.kernelH * conv.kernelW else {
            return (0..<conv.outChannels).map { Double(conv.bias?[$0] ?? 0) }
        }
        return conv.weight.data.withUnsafeBufferPointer { w in
            (0..<conv.outChannels).map { o in
                let offset = (o / perGroupOut) * d
                var e = Double(conv.bias?[o] ?? 0)
                for j in 0..<d { e += Double(w[o * d + j]) * mean[offset + j] }
                return e
            }
        }
    }
}

/// Sums of mean patches per conv over the images a hook sees (single-threaded use: the staged passes run
/// images one after the other).
final class MeanPatches: @unchecked Sendable {
    private let convs: [String: Conv2D]
    private var sums: [String: [Double]] = [:]
    private var counts: [String: Int] = [:]

    init(_ convs: [String: Conv2D]) { self.convs = convs }

    func observe(_ name: String, _ x: Tensor) {
        guard let conv = convs[name] else { return }
        let m = BiasCorrection.meanPatch(x, conv: conv)
        if let s = sums[name] { sums[name] = zip(s, m).map(+) } else { sums[name] = m }
        counts[name, default: 0] += 1
    }

    /// The mean over the images observed (zeros if none).
    func mean(_ name: String) -> [Double] {
        guard let s = sums[name], let n = counts[name], n > 0 else { return [] }
        return s.map { $0 / Double(n) }
    }
}
