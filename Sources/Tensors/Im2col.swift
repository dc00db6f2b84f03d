// im2col: lays out convolution input windows as GEMM columns, one range of output pixels at a time.

/// Geometry of one convolution, shared by im2col, the depthwise kernel and the Gram accumulator.
struct ConvGeometry {
    let channels: Int       // input channels of one group
    let height: Int, width: Int
    let kernelH: Int, kernelW: Int
    let stride: Int, padding: Int, dilation: Int
    let outHeight: Int, outWidth: Int

    /// The rows of the im2col matrix: `channels * kernelH * kernelW`, in the weight's flattening order.
    var patchLength: Int { channels * kernelH * kernelW }

    /// Output columns `ox` whose input column `ox * stride + offset` lies inside `0..<width`.
    @inline(__always)
    func validColumns(offset: Int) -> Range<Int> {
        validRange(offset: offset, stride: stride, extent: width, outExtent: outWidth)
    }
}

/// Outputs `o` in `0..<outExtent` with `o * stride + offset` in `0..<extent`.
@inline(__always)
func validRange(offset: Int, stride: Int, extent: Int, outExtent: Int) -> Range<Int> {
    // lo = ceil(-offset / stride) clamped at 0; hi = floor((extent - 1 - offset) / stride) + 1.
    let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    let last = extent - 1 - offset
    let hi = last < 0 ? 0 : min(outExtent, last / stride + 1)
    return min(lo, hi)..<hi
}

/// Writes output-pixel columns `cols` of the im2col matrix of one group's input.
///
/// - Parameters:
///   - x: The group's input, `[channels, height, width]`.
///   - g: The convolution geometry.
///   - cols: Output pixels (flattened `oy * outWidth + ox`) to lay out.
///   - ld: Row stride of `out` (at least `cols.count`).
///   - out: `[patchLength, ld]` row-major, columns `0..<cols.count` written; row `(c * kernelH + ky) * kernelW + kx` holds
///     `x[c, oy * stride - padding + ky * dilation, ox * stride - padding + kx * dilation]`, zero outside.
func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, cols: Range<Int>, ld: Int? = nil,
            into out: UnsafeMutablePointer<Float>) {
    let nc = ld ?? cols.count
    var row = out
    for c in 0..<g.channels {
        let plane = x + c * g.height * g.width
        for ky in 0..<g.kernelH {
            for kx in 0..<g.kernelW {
                let xOffset = kx * g.dilation - g.padding
                let valid = g.validColumns(offset: xOffset)
                var j = 0
                var n = cols.lowerBound
                while n < cols.upperBound {
                    let oy = n / g.outWidth
                    let ox0 = n - oy * g.outWidth
                    let ox1 = min(g.outWidth, ox0 + (cols.upperBound - n))
                    let dst = row + j - ox0          // dst[ox] is this row's entry for output column ox
                    let iy = oy * g.stride - g.padding + ky * g.dilation
                    if iy < 0 || iy >= g.height {
                        for ox in ox0..<ox1 { dst[ox] = 0 }
                    } else {
                        let src = plane + iy * g.width + xOffset   // src[ox * stride] = x[iy, ox*stride + xOffset]
                        let lo = max(ox0, valid.lowerBound), hi = min(ox1, valid.upperBound)
                        if lo >= hi {
                            for ox in ox0..<ox1 { dst[ox] = 0 }
                        } else {
                            for ox in ox0..<lo { dst[ox] = 0 }
                            if g.stride == 1 {
                                for ox in lo..<hi { dst[ox] = src[ox] }
                            } else {
                                for ox in lo..<hi { dst[ox] = src[ox * g.stride] }
                            }
                            for ox in hi..<ox1 { dst[ox] = 0 }
                        }
                    }
                    j += ox1 - ox0
                    n += ox1 - ox0
                }
                row += nc
            }
        }
    }
}
