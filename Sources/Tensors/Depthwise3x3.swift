// The depthwise 3x3 kernel MobileNets spend most of their time in (stride 1 or 2, padding 1).

/// Whether `depthwise3x3Plane` handles this geometry.
func isDepthwise3x3(_ g: ConvGeometry) -> Bool {
    g.kernelH == 3 && g.kernelW == 3 && g.padding == 1 && g.dilation == 1 && (g.stride == 1 || g.stride == 2)
}

/// One channel plane of a 3x3, padding-1, stride-1/2 depthwise convolution.
///
/// `x` `[H, W]`, `weight` `[3, 3]`, `y` `[OH, OW]`. Each output is accumulated in registers over its
/// nine taps in (ky, kx) order, starting from the bias, and written once with the activation
/// applied: one pass over the output instead of nine. The interior loop is plain contiguous
/// arithmetic that the optimiser vectorises (8 lanes with AVX2), activation included as a clamp in
/// the store; the debug build runs the same code
/// scalar. A row above or below the image contributes through a zero weight on a valid row, which
/// adds exactly 0 and keeps the loop branch-free.
@inline(__always)
func depthwise3x3Plane(x: UnsafePointer<Float>, geometry g: ConvGeometry, weight: UnsafePointer<Float>,
                       bias: Float, activation: Activation, y: UnsafeMutablePointer<Float>,
                       deinterleaved: UnsafeMutablePointer<Float>) {
    let w = g.width, h = g.height, s = g.stride, ow = g.outWidth
    // Stride 2 reads every other column; split each input row into its even and odd columns once
    // (`deinterleaved` holds `[H, W]` floats: evens then odds per row) so the interior loop reads
    // contiguous memory. Input row r: evens at `ev + r * w`, odds right after them.
    let evenCount = (w + 1) / 2
    let (lower, upper) = activation.bounds
    if s == 2 {
        for r in 0..<h {
            let src = x + r * w, ev = deinterleaved + r * w, od = ev + evenCount
            for j in 0..<evenCount { ev[j] = src[2 * j] }
            for j in 0..<(w / 2) { od[j] = src[2 * j + 1] }
        }
    }
    // Interior columns: every tap ox*s - 1 + kx (kx = 0...2) inside 0..<w.
    let lo = 1
    let hi = max(lo, min(ow, (w - 2) / s + 1))
    for oy in 0..<g.outHeight {
        let iy = oy * s - 1
        let top = iy >= 0, bottom = iy + 2 < h
        let r0 = x + (top ? iy : iy + 1) * w
        let r1 = x + (iy + 1) * w
        let r2 = x + (bottom ? iy + 2 : iy + 1) * w
        let w00 = top ? weight[0] : 0, w01 = top ? weight[1] : 0, w02 = top ? weight[2] : 0
        let w10 = weight[3], w11 = weight[4], w12 = weight[5]
        let w20 = bottom ? weight[6] : 0, w21 = bottom ? weight[7] : 0, w22 = bottom ? weight[8] : 0
        let out = y + oy * ow
        // Edge columns (left pad, and the right pad or the stride remainder): taps outside are skipped.
        @inline(__always) func tap(_ acc: inout Float, _ row: UnsafePointer<Float>, _ c: Int, _ wt: Float) {
            if c >= 0 && c < w { acc += wt * row[c] }
        }
        @inline(__always) func edge(_ ox: Int) {
            let c = ox * s - 1
            var acc = bias
            tap(&acc, r0, c, w00); tap(&acc, r0, c + 1, w01); tap(&acc, r0, c + 2, w02)
            tap(&acc, r1, c, w10); tap(&acc, r1, c + 1, w11); tap(&acc, r1, c + 2, w12)
            tap(&acc, r2, c, w20); tap(&acc, r2, c + 1, w21); tap(&acc, r2, c + 2, w22)
            out[ox] = min(max(acc, lower), upper)
        }
        for ox in 0..<min(lo, ow) { edge(ox) }
        if s == 1 {
            for ox in lo..<hi {
                var acc = bias
                acc += w00 * r0[ox - 1]; acc += w01 * r0[ox]; acc += w02 * r0[ox + 1]
                acc += w10 * r1[ox - 1]; acc += w11 * r1[ox]; acc += w12 * r1[ox + 1]
                acc += w20 * r2[ox - 1]; acc += w21 * r2[ox]; acc += w22 * r2[ox + 1]
                out[ox] = min(max(acc, lower), upper)
            }
        } else {
            // Column 2*ox - 1 is odd[ox - 1], 2*ox is even[ox], 2*ox + 1 is odd[ox].
            let e0 = UnsafePointer(deinterleaved + (top ? iy : iy + 1) * w), o0 = e0 + evenCount
            let e1 = UnsafePointer(deinterleaved + (iy + 1) * w), o1 = e1 + evenCount
            let e2 = UnsafePointer(deinterleaved + (bottom ? iy + 2 : iy + 1) * w), o2 = e2 + evenCount
            for ox in lo..<hi {
                var acc = bias
                acc += w00 * o0[ox - 1]; acc += w01 * e0[ox]; acc += w02 * o0[ox]
                acc += w10 * o1[ox - 1]; acc += w11 * e1[ox]; acc += w12 * o1[ox]
                acc += w20 * o2[ox - 1]; acc += w21 * e2[ox]; acc += w22 * o2[ox]
                out[ox] = min(max(acc, lower), upper)
            }
        }
        for ox in hi..<ow { edge(ox) }
    }
}
