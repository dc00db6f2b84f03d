// Two convolutions of one input with the same windows (an SSD source's two heads) from one patch matrix.

extension Conv2D {
    /// Whether `other` convolves the same input windows as this conv, so one im2col patch matrix serves both:
    /// both ungrouped im2col convs with the same input channels, kernel, stride, padding and dilation, on the
    /// same GEMM kernel.
    public func sharesPatches(with other: Conv2D) -> Bool {
        kernel == .im2col && other.kernel == .im2col && groups == 1 && other.groups == 1
            && inChannels == other.inChannels && kernelH == other.kernelH && kernelW == other.kernelW
            && stride == other.stride && padding == other.padding && dilation == other.dilation
            && (packed == nil) == (other.packed == nil)
    }

    /// Convolves `x` with `a` into `ya` and with `b` into `yb`, laying out the patch matrix once; `a` must
    /// share patches with `b`. Each output equals that conv's own `callAsFunction(_:into:scratch:)` bit for bit.
    public static func convolve(_ a: Conv2D, _ b: Conv2D, sharingPatchesOf x: Tensor, into ya: inout Tensor,
                                _ yb: inout Tensor, scratch: inout [Float]) {
        precondition(a.sharesPatches(with: b), "convs with different windows cannot share patches")
        ya.reshapeForOutput(a.outputShape(for: x.shape))
        yb.reshapeForOutput(b.outputShape(for: x.shape))
        if ya.count == 0 { return }
        let g = a.geometry(for: x.shape)
        let n = g.outHeight * g.outWidth, hw = g.height * g.width, c = a.inChannels, batch = x.shape[0]
        let plan = PatchPlan(pointwise: false, patchLength: g.patchLength, columns: n)
        let needed: Int
        if let pa = a.packed, let pb = b.packed {
            needed = packedConvScratchCount(plan, weights: [pa, pb], columns: n)
        } else {
            let pieces: Int
            if case .chunked(let width) = plan { pieces = (n + width - 1) / width } else { pieces = 1 }
            needed = plan.scratchCount(patchLength: g.patchLength, columns: n,
                                       workers: Runtime.workers(forPieces: pieces))
        }
        if scratch.count < needed { scratch = [Float](repeating: 0, count: needed) }
        x.data.withUnsafeBufferPointer { xb in
        ya.data.withUnsafeMutableBufferPointer { yab in
        yb.data.withUnsafeMutableBufferPointer { ybb in
        scratch.withUnsafeMutableBufferPointer { sb in
        a.biasOrZero.withUnsafeBufferPointer { bab in
        b.biasOrZero.withUnsafeBufferPointer { bbb in
        a.weight.data.withUnsafeBufferPointer { wab in
        b.weight.data.withUnsafeBufferPointer { wbb in
            guard let xp = xb.baseAddress, let yap = yab.baseAddress, let ybp = ybb.baseAddress,
                  let sp = sb.baseAddress, let bap = bab.baseAddress, let bbp = bbb.baseAddress,
                  let wap = wab.baseAddress, let wbp = wbb.baseAddress else { return }
            if let pa = a.packed, let pb = b.packed {
                for image in 0..<batch {
                    packedConvImage([PackedTarget(w: pa, bias: bap, y: yap + image * a.outChannels * n,
                                                  activation: a.activation),
                                     PackedTarget(w: pb, bias: bbp, y: ybp + image * b.outChannels * n,
                                                  activation: b.activation)],
                                    x: xp + image * c * hw, geometry: g, plan: plan, scratch: sp)
                }
            } else {
                gemmConvolution(x: xp, scratch: sp,
                                targets: [GEMMTarget(weight: wap, bias: bap, y: yap, outChannels: a.outChannels,
                                                     activation: a.activation),
                                          GEMMTarget(weight: wbp, bias: bbp, y: ybp, outChannels: b.outChannels,
                                                     activation: b.activation)],
                                batch: batch, groups: 1, geometry: g, plan: plan)
            }
        } } } } } } } }
    }
}
