// Convolutions on the packed-weight kernel: 1x1 straight on the input, others through im2col patches.

/// `Y = act(bias + W * B)` for one image, B `[K, N]` with row stride `ldb`, Y `[M, N]`, in parallel pieces.
func packedConvolution(_ w: PackedWeight, bias: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                       y: UnsafeMutablePointer<Float>, n: Int, activation: Activation,
                       scratch: UnsafeMutablePointer<Float>) {
    let grid = PackedGrid(m: w.m, n: n, k: w.k)
    let workCount = packedScratchCount(grid, k: w.k)
    let box = UncheckedBox((bias, b, y, scratch))
    Runtime.parallelFor(pieces: grid.pieces) { piece, worker in
        let (bias, b, y, scratch) = box.value
        let (rows, cols) = grid.tile(piece)
        packedGEMM(w, bias: bias, b: b, ldb: ldb, c: y, ldc: n, rows: rows, cols: cols, activation: activation,
                   work: scratch + worker * workCount)
    }
}

/// Scratch floats `packedConvImage` needs for one image under `plan`.
func packedConvScratchCount(_ plan: PatchPlan, weight w: PackedWeight, columns n: Int) -> Int {
    switch plan {
    case .direct, .full:
        let grid = PackedGrid(m: w.m, n: n, k: w.k)
        let patches = plan == .full ? w.k * n : 0
        return patches + packedScratchCount(grid, k: w.k) * Runtime.workers(forPieces: grid.pieces)
    case .chunked(let width):
        return Runtime.workers(forPieces: (n + width - 1) / width) * chunkRegion(w, width: width)
    }
}

/// Scratch floats for several convolutions sharing one patch matrix (the most any one of them needs).
func packedConvScratchCount(_ plan: PatchPlan, weights: [PackedWeight], columns n: Int) -> Int {
    weights.map { packedConvScratchCount(plan, weight: $0, columns: n) }.max() ?? 0
}

/// One chunked piece's scratch: its patch columns, then `packedGEMM`'s work area for all rows.
private func chunkRegion(_ w: PackedWeight, width: Int) -> Int {
    w.k * width + packedWorkCount(k: w.k, rows: (w.m + PackedWeight.rows - 1) / PackedWeight.rows * PackedWeight.rows)
}

/// One convolution reading a (possibly shared) patch matrix: its weight, bias, output `[M, OH * OW]` and
/// activation.
struct PackedTarget {
    let w: PackedWeight
    let bias: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
    let activation: Activation
}

/// One image of an ungrouped convolution: `x` `[C, H, W]` to `y` `[O, OH * OW]`, through `plan`.
func packedConvImage(_ w: PackedWeight, bias: UnsafePointer<Float>, x: UnsafePointer<Float>, geometry g: ConvGeometry,
                     plan: PatchPlan, y: UnsafeMutablePointer<Float>, activation: Activation,
                     scratch: UnsafeMutablePointer<Float>) {
    packedConvImage([PackedTarget(w: w, bias: bias, y: y, activation: activation)], x: x, geometry: g, plan: plan,
                    scratch: scratch)
}

/// One image of several ungrouped convolutions of the same geometry on the same input (an SSD source's two
/// heads): the patches are laid out once and every target multiplies them. Each target gets the bits it
/// would get alone, since `packedGEMM`'s sums do not depend on the tiling.
func packedConvImage(_ targets: [PackedTarget], x: UnsafePointer<Float>, geometry g: ConvGeometry, plan: PatchPlan,
                     scratch: UnsafeMutablePointer<Float>) {
    let n = g.outHeight * g.outWidth, k = g.patchLength
    precondition(targets.allSatisfy { $0.w.k == k }, "every target reads the same patches")
    switch plan {
    case .direct:
        for t in targets {
            packedConvolution(t.w, bias: t.bias, b: x, ldb: n, y: t.y, n: n, activation: t.activation,
                              scratch: scratch)
        }
    case .full:
        let box = UncheckedBox((x, scratch))
        let chunks = TileGrid(m: 1, n: n, k: 4_000_000)   // column chunks for a parallel im2col
        Runtime.parallelFor(pieces: chunks.pieces) { piece, _ in
            let cols = chunks.tile(piece).cols
            im2col(box.value.0, g, cols: cols, ld: n, into: box.value.1 + cols.lowerBound)
        }
        for t in targets {
            packedConvolution(t.w, bias: t.bias, b: scratch, ldb: n, y: t.y, n: n, activation: t.activation,
                              scratch: scratch + k * n)
        }
    case .chunked(let width):
        let region = targets.map { chunkRegion($0.w, width: width) }.max() ?? 0
        let box = UncheckedBox((x, targets, scratch))
        Runtime.parallelFor(pieces: (n + width - 1) / width) { piece, worker in
            let (x, targets, scratch) = box.value
            let cols = piece * width..<min(n, (piece + 1) * width)
            let patches = scratch + worker * region
            im2col(x, g, cols: cols, into: patches)
            for t in targets {
                packedGEMM(t.w, bias: t.bias, b: patches, ldb: cols.count, c: t.y + cols.lowerBound, ldc: n,
                           rows: 0..<t.w.m, cols: 0..<cols.count, activation: t.activation, work: patches + k * width)
            }
        }
    }
}
