/// One quantized convolution as `mpq quantize` produces it, a quantized model file stores it and the integer
/// engine runs it: `R = Σ_c n_c` rows of `b`-bit integer codes, one fp32 scale per row, the BatchNorm-folded
/// bias, and the per-tensor grid of its input.
///
/// Layout: `codes [R, rowLength]` row-major, the rows of output channel 0 first (its `pointCounts[0]` points in
/// greedy order), then channel 1, …; `rowLength = C'·kh·kw` where `C' = C/groups` for an ordinary conv and
/// `C' = inputChannelMap.count` for an outlier-channel-split (OCS) conv, whose row element `(t, i)` multiplies input
/// channel `inputChannelMap[t]`. The float weight of channel `c` is `Σ_{rows r of c} scales[r] · codes[r]`
/// (`reconstructedWeight`, OCS copies summed).
public struct QuantizedConv: Sendable, Equatable {
    /// The per-tensor grid of the conv's input (`x̂ = scale · clamp(round(x / scale), qmin, qmax)`).
    public struct ActivationGrid: Sendable, Equatable {
        public let bits: Int
        /// Codes `0 … 2^b − 1` (a non-negative input, zero point 0) or `−(2^(b−1) − 1) … 2^(b−1) − 1`.
        public let isUnsigned: Bool
        /// The largest representable magnitude.
        public let clip: Float

        public init(bits: Int, clip: Float, unsigned: Bool) {
            self.bits = bits
            self.clip = clip
            self.isUnsigned = unsigned
        }

        public var qmax: Int { isUnsigned ? (1 << bits) - 1 : (1 << (bits - 1)) - 1 }
        public var qmin: Int { isUnsigned ? 0 : -qmax }
        public var scale: Float { clip / Float(qmax) }
        /// The grid as the float engines apply it.
        public var grid: InputQuantization.Grid { .init(scale: scale, qmin: Float(qmin), qmax: Float(qmax)) }
    }

    /// The conv's checkpoint key prefix (e.g. `base_net.14.conv.3`).
    public let name: String
    /// The code width `b`: every code is in `−(2^(b−1) − 1) … 2^(b−1) − 1`.
    public let bits: Int
    /// `[O, C/groups, kh, kw]` of the float weight.
    public let weightShape: [Int]
    /// `n_c ≥ 1` per output channel, `[O]`.
    public let pointCounts: [Int]
    /// One scale per row, `[R]`.
    public let scales: [Float]
    /// `[R, rowLength]`.
    public let codes: [Int8]
    /// `[O]`, BatchNorm folded.
    public let bias: [Float]
    /// OCS: expanded input channel `t` is input channel `inputChannelMap[t]`; nil for an ordinary conv.
    public let inputChannelMap: [Int]?
    /// The input's grid; nil when activations stay float.
    public let activation: ActivationGrid?

    public init(name: String, bits: Int, weightShape: [Int], pointCounts: [Int], scales: [Float], codes: [Int8],
                bias: [Float], inputChannelMap: [Int]?, activation: ActivationGrid?) {
        self.name = name
        self.bits = bits
        self.weightShape = weightShape
        self.pointCounts = pointCounts
        self.scales = scales
        self.codes = codes
        self.bias = bias
        self.inputChannelMap = inputChannelMap
        self.activation = activation
    }

    public var outputChannels: Int { weightShape[0] }
    public var rows: Int { scales.count }
    public var kernelSize: Int { weightShape[2] * weightShape[3] }
    public var rowLength: Int { (inputChannelMap?.count ?? weightShape[1]) * kernelSize }

    /// Output channel of each row, `[R]` (non-decreasing).
    public var channelOfRow: [Int] {
        pointCounts.enumerated().flatMap { c, n in [Int](repeating: c, count: n) }
    }

    /// The fake-quant float weight `[O, C/groups, kh, kw]` (what the simulated engine runs and mAP was scored with).
    public var reconstructedWeight: [Float] {
        QuantizedConvWeights.reconstruct(codes: codes, scales: scales, pointCounts: pointCounts, rowLength: rowLength,
                                         inputChannels: weightShape[1], kernelSize: kernelSize,
                                         inputChannelMap: inputChannelMap)
    }
}

/// The weight formula of quantized convs, in one place for the quantizer and the file loader, so a saved model
/// loads back to exactly the weights that were scored.
public enum QuantizedConvWeights {
    /// `ŵ[c, j, i] = Σ_{rows r of c, in order} scales[r] · Σ_{t : map[t] = j} codes[r, t, i]` as `[C, C_in·k]`
    /// (`k = kh·kw`): the copies of a split input channel are summed as integers, then scaled once in Float; the
    /// rows of a channel are accumulated in Float in point order. Without a map `t = j` (`rowLength = C_in·k`).
    /// - Parameters:
    ///   - codes: `[Σ pointCounts, rowLength]` row-major.
    ///   - inputChannelMap: `[C']` with `rowLength = C'·k`, or nil.
    public static func reconstruct(codes: [Int8], scales: [Float], pointCounts: [Int], rowLength: Int,
                                   inputChannels: Int, kernelSize k: Int, inputChannelMap map: [Int]?) -> [Float] {
        let d = inputChannels * k
        precondition(rowLength == (map?.count ?? inputChannels) * k && codes.count == scales.count * rowLength,
                     "codes must be [rows, \((map?.count ?? inputChannels) * k)]")
        var out = [Float](repeating: 0, count: pointCounts.count * d)
        var sums = [Int32](repeating: 0, count: d)
        var row = 0
        for (c, n) in pointCounts.enumerated() {
            for _ in 0..<n {
                let a = scales[row], base = row * rowLength
                if let map {
                    for j in 0..<d { sums[j] = 0 }
                    for (t, j) in map.enumerated() {
                        for i in 0..<k { sums[j * k + i] += Int32(codes[base + t * k + i]) }
                    }
                    for j in 0..<d { out[c * d + j] += a * Float(sums[j]) }
                } else {
                    for j in 0..<d { out[c * d + j] += a * Float(codes[base + j]) }
                }
                row += 1
            }
        }
        return out
    }
}
