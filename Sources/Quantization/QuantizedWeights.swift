import SSD

/// One layer's quantized weights in the multipoint form (RTN and MSE are the `n_c = 1` case).
///
/// Layout: the float weights are `W [C, d]` (row `c` = output channel `c`, `d = in/groups·kh·kw` in PyTorch's
/// `[out, in/groups, kh, kw]` order). Channel `c` has `n_c ≥ 1` points; the points are stored channel-major:
/// rows `offset_c ..< offset_c + n_c` of `codes [Σn_c, d]` (int8) and `scales [Σn_c]` (fp32) belong to
/// channel `c`, in greedy order, and the channel's weights are `ŵ_c = Σ_i scales[offset_c+i] · codes[offset_c+i]`.
public struct QuantizedWeights: Sendable, Equatable {
    public let channels: Int
    public let dimension: Int
    public let grid: QuantGrid
    /// `n_c` per channel, `[C]`.
    public let pointCounts: [Int]
    /// One scale per point row, `[Σn_c]`.
    public let scales: [Float]
    /// Integer codes, `[Σn_c, d]` row-major, every value in `G_b`.
    public let codes: [Int8]

    public init(channels: Int, dimension: Int, grid: QuantGrid, pointCounts: [Int], scales: [Float], codes: [Int8]) {
        precondition(pointCounts.count == channels && pointCounts.allSatisfy { $0 >= 1 }, "one or more points per channel")
        let rows = pointCounts.reduce(0, +)
        precondition(scales.count == rows && codes.count == rows * dimension, "scales/codes must match Σ n_c")
        self.channels = channels
        self.dimension = dimension
        self.grid = grid
        self.pointCounts = pointCounts
        self.scales = scales
        self.codes = codes
    }

    /// Number of point rows, `Σ n_c`.
    public var rowCount: Int { scales.count }

    /// First row of each channel, `[C]`.
    public var rowOffsets: [Int] {
        var offsets = [Int](repeating: 0, count: channels)
        var running = 0
        for c in 0..<channels { offsets[c] = running; running += pointCounts[c] }
        return offsets
    }

    /// The fake-quant weights `Ŵ [C, d]`: `ŵ_c = Σ_i a_i q_i`, summed in point order in Float.
    public func reconstructed() -> [Float] {
        QuantizedConvWeights.reconstruct(codes: codes, scales: scales, pointCounts: pointCounts, rowLength: dimension,
                                         inputChannels: dimension, kernelSize: 1, inputChannelMap: nil)
    }

    /// The fake-quant weights of an outlier-channel-split layer folded back onto its original input channels,
    /// `[C, C_in·k]`: this `dimension` is `inputChannelMap.count · k` and the copies of each input channel are
    /// summed (`QuantizedConvWeights.reconstruct`, the formula the model file loader uses). Nil map: `reconstructed()`.
    public func reconstructed(inputChannelMap map: [Int]?, inputChannels: Int, kernelSize: Int) -> [Float] {
        guard let map else { return reconstructed() }
        return QuantizedConvWeights.reconstruct(codes: codes, scales: scales, pointCounts: pointCounts,
                                                rowLength: dimension, inputChannels: inputChannels,
                                                kernelSize: kernelSize, inputChannelMap: map)
    }

    /// The "common operands" form: one b-bit weight matrix with `Σ n_c` rows (see `CommonOperands`).
    public func expandedCommonOperands() -> CommonOperands {
        var channelOfRow = [Int32](repeating: 0, count: rowCount)
        var row = 0
        for c in 0..<channels {
            for _ in 0..<pointCounts[c] { channelOfRow[row] = Int32(c); row += 1 }
        }
        return CommonOperands(channels: channels, dimension: dimension, bits: grid.bits,
                              codes: codes, scales: scales, channelOfRow: channelOfRow)
    }
}

/// A multipoint layer executed as one integer layer with `Σ n_c` output rows ("common operands").
///
/// `y_c = Σ_{ρ : channelOfRow[ρ] = c} scales[ρ] · <codes[ρ], x>`: the integer products `<codes[ρ], x>` are
/// what a b-bit kernel computes for all rows at once (one GEMM/conv with `Σ n_c` output channels); the
/// per-row scaling and the per-channel sum are a cheap epilogue. Equal to `<ŵ_c, x>` up to rounding.
public struct CommonOperands: Sendable, Equatable {
    public let channels: Int
    public let dimension: Int
    public let bits: Int
    /// `[rows, d]` int8 codes.
    public let codes: [Int8]
    /// `[rows]` fp32 scales.
    public let scales: [Float]
    /// `[rows]` output channel of each row (non-decreasing).
    public let channelOfRow: [Int32]

    public var rows: Int { scales.count }

    /// `Y [N, C] = X [N, d] · Ŵᵀ` computed the common-operands way: integer-weight products per row (in
    /// Float, exact for the codes), then scaled and summed per channel. Reference implementation for tests
    /// and small layers; the fast path is a conv with `rows` output channels.
    public func apply(_ x: [Float], samples: Int) -> [Float] {
        precondition(x.count == samples * dimension, "X must be [N, d]")
        var y = [Float](repeating: 0, count: samples * channels)
        for s in 0..<samples {
            for r in 0..<rows {
                var dot: Float = 0
                for j in 0..<dimension { dot += Float(codes[r * dimension + j]) * x[s * dimension + j] }
                y[s * channels + Int(channelOfRow[r])] += scales[r] * dot
            }
        }
        return y
    }
}
