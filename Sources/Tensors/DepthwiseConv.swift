// Direct depthwise convolution: one input channel -> one output channel per group.

/// Depthwise convolution over `batch` images, one independent piece per (image, channel) plane.
///
/// - Parameters:
///   - x: `[batch, C, H, W]`.
///   - geometry: Per-channel geometry (`channels == 1`).
///   - weight: `[C, 1, kH, kW]`.
///   - bias: `[C]`.
///   - y: `[batch, C, OH, OW]`, fully overwritten.
///   - scratch: `depthwiseScratchCount` floats (per-worker room for the 3x3 kernel).
/// Each output is `bias + sum_{ky, kx} w[ky, kx] * x[...]` accumulated in (ky, kx) order, the
/// same for every thread count.
func depthwiseConv(x: UnsafePointer<Float>, batch: Int, channels: Int, geometry g: ConvGeometry,
                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, activation: Activation,
                   y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>?) {
    let planes = batch * channels
    let xBox = UncheckedBox(x), yBox = UncheckedBox(y), wBox = UncheckedBox(weight), bBox = UncheckedBox(bias)
    let layout = isDepthwise3x3(g) ? Depthwise3x3Layout(g) : nil
    let sBox = UncheckedBox(scratch)
    // Pieces of ~32 K outputs: a piece per plane made the 10x10-and-smaller layers pay a thread hand-off
    // for a few hundred outputs.
    let perPiece = max(1, (1 << 15) / max(1, g.outHeight * g.outWidth))
    Runtime.parallelFor(pieces: (planes + perPiece - 1) / perPiece) { piece, worker in
        for plane in piece * perPiece..<min(planes, (piece + 1) * perPiece) {
            let c = plane % channels
            if let layout, let sp = sBox.value {
                depthwise3x3Plane(x: xBox.value + plane * g.height * g.width, geometry: g, layout: layout,
                                  weight: wBox.value + c * 9, bias: bBox.value[c], activation: activation,
                                  y: yBox.value + plane * g.outHeight * g.outWidth,
                                  work: sp + worker * layout.scratchCount)
                continue
            }
            depthwisePlane(x: xBox.value + plane * g.height * g.width, geometry: g,
                           weight: wBox.value + c * g.kernelH * g.kernelW, bias: bBox.value[c],
                           activation: activation, y: yBox.value + plane * g.outHeight * g.outWidth)
        }
    }
}

/// One channel plane: row-at-a-time so the inner loop is a contiguous (or strided) axpy the
/// compiler vectorises.
@inline(__always)
private func depthwisePlane(x: UnsafePointer<Float>, geometry g: ConvGeometry, weight: UnsafePointer<Float>,
                            bias: Float, activation: Activation, y: UnsafeMutablePointer<Float>) {
    for oy in 0..<g.outHeight {
        let yRow = y + oy * g.outWidth
        for ox in 0..<g.outWidth { yRow[ox] = bias }
        for ky in 0..<g.kernelH {
            let iy = oy * g.stride - g.padding + ky * g.dilation
            if iy < 0 || iy >= g.height { continue }
            for kx in 0..<g.kernelW {
                let offset = kx * g.dilation - g.padding
                let valid = g.validColumns(offset: offset)
                let w = weight[ky * g.kernelW + kx]
                let src = x + iy * g.width + offset
                if g.stride == 1 {
                    for ox in valid { yRow[ox] += w * src[ox] }
                } else {
                    for ox in valid { yRow[ox] += w * src[ox * g.stride] }
                }
            }
        }
        activation.apply(yRow, count: g.outWidth)
    }
}

/// Scratch floats `depthwiseConv` needs for `planes` planes of this geometry.
func depthwiseScratchCount(_ g: ConvGeometry, planes: Int) -> Int {
    isDepthwise3x3(g) ? Depthwise3x3Layout(g).scratchCount * Runtime.workers(forPieces: planes) : 1
}
