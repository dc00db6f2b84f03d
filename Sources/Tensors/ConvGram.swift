// Input Gram matrices of a convolution, for quantization calibration (H = X^T X per group).
import COpenBLAS

extension Conv2D {
    /// Length `d` of one im2col row: `C / groups * kH * kW`, ordered like the weight's flattening.
    public var patchLength: Int { inChannels / groups * kernelH * kernelW }

    /// Accumulates `G_g += X_g^T X_g` for every group `g`, where the rows of `X_g` are the im2col
    /// patches of group `g` (one per output location and image, length `d = patchLength`).
    ///
    /// - Parameters:
    ///   - x: Input `[N, C, H, W]`.
    ///   - gram: `groups` arrays of `d * d` row-major doubles; pass `[]` to have them created.
    /// Each chunk of at most a few thousand locations is reduced in float by `ssyrk` and then added
    /// in double, so the result for many images keeps double precision. Depthwise convs yield one
    /// `kH*kW x kH*kW` matrix per channel. Bit-identical for any thread count: the pieces are groups
    /// (many small Grams) or fixed 64-row blocks of one large Gram, both functions of shapes only.
    public func accumulateInputGram(_ x: Tensor, into gram: inout [[Double]]) {
        let d = patchLength
        if gram.isEmpty { gram = [[Double]](repeating: [Double](repeating: 0, count: d * d), count: groups) }
        precondition(gram.count == groups && gram.allSatisfy { $0.count == d * d },
                     "gram must be \(groups) arrays of \(d * d) doubles")
        if groups == 1 && d >= 128 {
            gram[0].withUnsafeMutableBufferPointer { acc in
                guard let accPointer = acc.baseAddress else { return }
                accumulateLargeGram(x, into: accPointer)
            }
            return
        }
        let g = geometry(for: x.shape)
        let locations = g.outHeight * g.outWidth
        let chunk = min(locations, max(64, (1 << 22) / d))   // <= 16 MB of im2col per worker
        Runtime.prepareBLAS()
        let groups = self.groups, inChannels = self.inChannels, batch = x.shape[0], hw = g.height * g.width
        let workers = Runtime.workers(forPieces: groups)
        var scratch = [Float](repeating: 0, count: workers * (d * chunk + d * d))
        // Flatten so that parallel pieces can write their own group's slice through one pointer.
        var flat = [Double]()
        flat.reserveCapacity(groups * d * d)
        for a in gram { flat.append(contentsOf: a) }
        x.data.withUnsafeBufferPointer { xb in
            scratch.withUnsafeMutableBufferPointer { sb in
                flat.withUnsafeMutableBufferPointer { fb in
                    guard let xp = xb.baseAddress, let sp = sb.baseAddress, let gp = fb.baseAddress else { return }
                    Runtime.parallelFor(pieces: groups) { group, worker in
                        let col = sp + worker * (d * chunk + d * d)
                        let tmp = col + d * chunk
                        let acc = gp + group * d * d
                        for image in 0..<batch {
                            let xg = xp + (image * inChannels + group * g.channels) * hw
                            var start = 0
                            while start < locations {
                                let cols = start..<min(locations, start + chunk)
                                im2col(xg, g, cols: cols, into: col)
                                cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(d), Int32(cols.count),
                                            1, col, Int32(cols.count), 0, tmp, Int32(d))
                                for i in 0..<d {
                                    for j in i..<d { acc[i * d + j] += Double(tmp[i * d + j]) }
                                }
                                start = cols.upperBound
                            }
                        }
                        for i in 0..<d {
                            for j in 0..<i { acc[i * d + j] = acc[j * d + i] }
                        }
                    }
                }
            }
        }
        for group in 0..<groups { gram[group] = Array(flat[group * d * d..<(group + 1) * d * d]) }
    }

    /// One large Gram (`groups == 1`): per chunk of locations, build the patch matrix (in parallel by
    /// column ranges), then fill the upper triangle by fixed 64-row blocks, each one sgemm
    /// `P[rows] * P[rows.lowerBound...]^T` added in double to its own rows of `acc`.
    private func accumulateLargeGram(_ x: Tensor, into acc: UnsafeMutablePointer<Double>) {
        let d = patchLength
        let g = geometry(for: x.shape)
        let locations = g.outHeight * g.outWidth, hw = g.height * g.width
        let chunk = min(locations, max(64, (1 << 22) / d))
        let block = 64
        let blocks = (d + block - 1) / block
        let workers = Runtime.workers(forPieces: blocks)
        Runtime.prepareBLAS()
        var patches = [Float](repeating: 0, count: d * chunk)
        var partial = [Float](repeating: 0, count: workers * block * d)
        let batch = x.shape[0], inChannels = self.inChannels
        x.data.withUnsafeBufferPointer { xb in
            patches.withUnsafeMutableBufferPointer { pb in
                partial.withUnsafeMutableBufferPointer { tb in
                    guard let xp = xb.baseAddress, let pp = pb.baseAddress, let tp = tb.baseAddress else { return }
                    let ops = UncheckedBox((xp, pp, tp, acc))
                    for image in 0..<batch {
                        var start = 0
                        while start < locations {
                            let cols = start..<min(locations, start + chunk)
                            let cw = cols.count
                            let xg = ops.value.0 + image * inChannels * hw
                            let split = TileGrid(m: 1, n: cw, k: 4_000_000)
                            Runtime.parallelFor(pieces: split.pieces) { piece, _ in
                                let sub = split.tile(piece).cols
                                im2col(xg, g, cols: (cols.lowerBound + sub.lowerBound)..<(cols.lowerBound + sub.upperBound),
                                       ld: cw, into: ops.value.1 + sub.lowerBound)
                            }
                            Runtime.parallelFor(pieces: blocks) { b, worker in
                                let r0 = b * block, r1 = min(d, r0 + block)
                                let p = UnsafePointer(ops.value.1)
                                let tmp = ops.value.2 + worker * block * d
                                // tmp[i - r0, j - r0] = <P[i], P[j]> for i in r0..<r1, j in r0..<d.
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(r1 - r0), Int32(d - r0),
                                            Int32(cw), 1, p + r0 * cw, Int32(cw), p + r0 * cw, Int32(cw),
                                            0, tmp, Int32(d - r0))
                                for i in r0..<r1 {
                                    let src = tmp + (i - r0) * (d - r0) - r0, dst = ops.value.3 + i * d
                                    for j in i..<d { dst[j] += Double(src[j]) }
                                }
                            }
                            start = cols.upperBound
                        }
                    }
                }
            }
        }
        for i in 0..<d {
            for j in 0..<i { acc[i * d + j] = acc[j * d + i] }
        }
    }
}
