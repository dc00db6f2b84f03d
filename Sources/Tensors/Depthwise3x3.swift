// The depthwise 3x3 kernel MobileNets spend most of their time in (stride 1 or 2, padding 1).

/// Whether `depthwise3x3Plane` handles this geometry.
func isDepthwise3x3(_ g: ConvGeometry) -> Bool {
    g.kernelH == 3 && g.kernelW == 3 && g.padding == 1 && g.dilation == 1 && (g.stride == 1 || g.stride == 2)
}

/// How one channel plane is laid out for the 3x3 kernel: the zero-padded input split into `planes`
/// phase planes of `rows` rows and `rowStride` columns each, so that every tap of every output reads
/// `plane[tap] + j + offset[tap]` with `j = oy * rowStride + ox`: one flat loop over the whole output,
/// no edges, no per-row remainder (what makes the 19x19 and 10x10 planes fast).
///
/// Stride 1: one plane, the input with a one-pixel zero border (`rowStride = W + 2`), tap (ky, kx) at
/// offset `ky * rowStride + kx`. Stride 2: the padded input's four (row parity, column parity) phases,
/// `rowStride = OW + 1`, so a stride-2 tap is a unit-stride read of one phase.
struct Depthwise3x3Layout {
    let rowStride: Int
    /// Flat outputs computed per plane: the last valid `j` plus one (junk columns between rows included),
    /// rounded up.
    let span: Int
    /// Floats of one phase plane.
    let phaseCount: Int
    let phases: Int

    init(_ g: ConvGeometry) {
        if g.stride == 1 {
            rowStride = g.width + 2
            phaseCount = (g.height + 2) * rowStride
            phases = 1
        } else {
            rowStride = g.outWidth + 1
            phaseCount = (g.outHeight + 1) * rowStride
            phases = 4
        }
        // Rounded up to whole 16-lane vectors: the loop then has no scalar remainder (what dominates small
        // planes). The extra outputs are junk; their reads run at most 15 floats past the last phase.
        span = ((g.outHeight - 1) * rowStride + g.outWidth + 15) / 16 * 16
    }

    /// Floats between the phases and the flat output: room for the junk outputs' reads, and it keeps
    /// the read and write ranges disjoint (the vectoriser's overlap check takes its scalar loop otherwise).
    static let gap = 32

    /// Where the flat output starts in a worker's scratch.
    var flatStart: Int { phases * phaseCount + Depthwise3x3Layout.gap }

    /// Scratch floats one worker needs: the phase planes, the gap and the flat output.
    var scratchCount: Int { flatStart + span }

    /// (phase, offset) of tap `t = ky * 3 + kx`.
    func tap(_ t: Int) -> (phase: Int, offset: Int) {
        let ky = t / 3, kx = t % 3
        if phases == 1 { return (0, ky * rowStride + kx) }
        // Padded row 2*oy + ky and column 2*ox + kx: parity picks the phase, the half is the offset.
        return ((ky % 2) * 2 + kx % 2, (ky / 2) * rowStride + kx / 2)
    }
}

/// One channel plane of a 3x3, padding-1, stride-1/2 depthwise convolution.
///
/// `x` `[H, W]`, `weight` `[3, 3]`, `y` `[OH, OW]`, `work` `Depthwise3x3Layout.scratchCount` floats.
/// Each output is the bias plus the nine taps in (ky, kx) order, fused multiply-adds, clamped by the
/// activation; padding taps read zeros, which add exactly nothing. The flat loop is plain arithmetic
/// on nine unit-stride streams that the optimiser vectorises (16 lanes with AVX-512); the debug build
/// runs it scalar.
@inline(__always)
func depthwise3x3Plane(x: UnsafePointer<Float>, geometry g: ConvGeometry, layout: Depthwise3x3Layout,
                       weight: UnsafePointer<Float>, bias: Float, activation: Activation,
                       y: UnsafeMutablePointer<Float>, work: UnsafeMutablePointer<Float>) {
    fillPhases(x: x, geometry: g, layout: layout, into: work)
    let s = layout.rowStride
    let flat = work + layout.flatStart
    func stream(_ t: Int) -> UnsafePointer<Float> {
        let (phase, offset) = layout.tap(t)
        return UnsafePointer(work + phase * layout.phaseCount + offset)
    }
    let p0 = stream(0), p1 = stream(1), p2 = stream(2), p3 = stream(3), p4 = stream(4)
    let p5 = stream(5), p6 = stream(6), p7 = stream(7), p8 = stream(8)
    let w0 = weight[0], w1 = weight[1], w2 = weight[2], w3 = weight[3], w4 = weight[4]
    let w5 = weight[5], w6 = weight[6], w7 = weight[7], w8 = weight[8]
    let (lower, upper) = activation.bounds
    for j in 0..<layout.span {
        var acc = bias
        acc.addProduct(w0, p0[j]); acc.addProduct(w1, p1[j]); acc.addProduct(w2, p2[j])
        acc.addProduct(w3, p3[j]); acc.addProduct(w4, p4[j]); acc.addProduct(w5, p5[j])
        acc.addProduct(w6, p6[j]); acc.addProduct(w7, p7[j]); acc.addProduct(w8, p8[j])
        flat[j] = clamped(acc, lower, upper)
    }
    let ow = g.outWidth
    for oy in 0..<g.outHeight {
        (y + oy * ow).update(from: flat + oy * s, count: ow)
    }
}

/// Writes the phase planes of `layout` for one input plane: zero padding included, every float written.
@inline(__always)
private func fillPhases(x: UnsafePointer<Float>, geometry g: ConvGeometry, layout: Depthwise3x3Layout,
                        into work: UnsafeMutablePointer<Float>) {
    let h = g.height, w = g.width, s = layout.rowStride
    if layout.phases == 1 {
        // Padded row r is input row r - 1; columns 0 and W + 1 are the zero border.
        work.update(repeating: 0, count: s)
        (work + (h + 1) * s).update(repeating: 0, count: s)
        for r in 0..<h {
            let row = work + (r + 1) * s
            row[0] = 0
            (row + 1).update(from: x + r * w, count: w)
            row[w + 1] = 0
        }
        return
    }
    // Phase (rp, cp), row i, column k holds padded (2i + rp, 2k + cp), i.e. input (2i + rp - 1, 2k + cp - 1).
    // One pass per input row splits it into its even-phase (input column 2k - 1) and odd-phase (2k) rows.
    let rows = layout.phaseCount / s
    let evenEnd = validRange(offset: -1, stride: 2, extent: w, outExtent: s).upperBound
    let oddEnd = validRange(offset: 0, stride: 2, extent: w, outExtent: s).upperBound
    let both = min(evenEnd, oddEnd)
    for pr in 0..<(2 * rows) {
        let rp = pr % 2, i = pr / 2
        let even = work + 2 * rp * layout.phaseCount + i * s, odd = even + layout.phaseCount
        let r = pr - 1
        if r < 0 || r >= h {
            even.update(repeating: 0, count: s)
            odd.update(repeating: 0, count: s)
            continue
        }
        let src = x + r * w
        even[0] = 0
        odd[0] = src[0]
        for k in 1..<max(1, both) {
            even[k] = src[2 * k - 1]
            odd[k] = src[2 * k]
        }
        for k in max(1, both)..<s {
            even[k] = k < evenEnd ? src[2 * k - 1] : 0
            odd[k] = k < oddEnd ? src[2 * k] : 0
        }
    }
}
