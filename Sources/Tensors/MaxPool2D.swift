// Max pooling with PyTorch's padding and ceil-mode rules.

/// 2-D max pooling over NCHW tensors (`nn.MaxPool2d` semantics).
///
/// Output extent: `floor((H + 2p - k + (ceilMode ? s - 1 : 0)) / s) + 1`; in ceil mode the last
/// window is dropped if it would start at or beyond `H + p` (it must start inside the input or the
/// left padding). Padded positions never win (they act as -infinity). Input `[N, C, H, W]`,
/// output `[N, C, OH, OW]`.
public struct MaxPool2D: Sendable, Equatable {
    public var kernel: Int
    public var stride: Int
    public var padding: Int
    public var ceilMode: Bool

    /// - Parameters:
    ///   - stride: Defaults to `kernel`, like PyTorch.
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
        precondition(kernel >= 1 && (stride ?? kernel) >= 1 && padding >= 0 && padding * 2 <= kernel,
                     "bad max-pool parameters")
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
        self.ceilMode = ceilMode
    }

    /// Output length along one axis of input length `n`.
    public func outputExtent(_ n: Int) -> Int {
        let span = n + 2 * padding - kernel
        precondition(span >= 0, "max-pool input extent \(n) smaller than kernel \(kernel)")
        var out = (span + (ceilMode ? stride - 1 : 0)) / stride + 1
        if ceilMode && (out - 1) * stride >= n + padding { out -= 1 }
        return out
    }

    public func outputShape(for input: [Int]) -> [Int] {
        precondition(input.count == 4, "max-pool expects [N, C, H, W], got \(input)")
        return [input[0], input[1], outputExtent(input[2]), outputExtent(input[3])]
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = Tensor(shape: [0], data: [])
        callAsFunction(x, into: &y)
        return y
    }

    /// Pools `x` into `y`, reusing `y`'s storage; one independent piece per (image, channel).
    public func callAsFunction(_ x: Tensor, into y: inout Tensor) {
        let out = outputShape(for: x.shape)
        y.reshapeForOutput(out)
        let h = x.shape[2], w = x.shape[3], oh = out[2], ow = out[3]
        let k = kernel, s = stride, p = padding
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
                Runtime.parallelFor(pieces: out[0] * out[1]) { plane, _ in
                    let src = xp + plane * h * w
                    let dst = yp + plane * oh * ow
                    for oy in 0..<oh {
                        let y0 = max(0, oy * s - p), y1 = min(h, oy * s - p + k)
                        for ox in 0..<ow {
                            let x0 = max(0, ox * s - p), x1 = min(w, ox * s - p + k)
                            var m = -Float.infinity
                            for iy in y0..<y1 {
                                let row = src + iy * w
                                for ix in x0..<x1 where row[ix] > m || row[ix].isNaN { m = row[ix] }
                            }
                            dst[oy * ow + ox] = m
                        }
                    }
                }
            }
        }
    }
}
