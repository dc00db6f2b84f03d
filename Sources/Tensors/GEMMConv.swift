// Convolution as GEMM: weight [O/g, K] x patches [K, OH*OW] per (image, group), with fused epilogue.
import COpenBLAS

/// How a GEMM convolution obtains its patch matrix; chosen from shapes only.
enum PatchPlan: Equatable {
    /// 1x1, stride 1, no padding: the input plane *is* the patch matrix.
    case direct
    /// The whole patch matrix fits a modest buffer: build it once (in parallel), then tile the GEMM.
    case full
    /// Very wide outputs (early VGG layers): each piece builds and multiplies its own column chunk,
    /// `width` columns, so the patch buffer stays cache-sized instead of hundreds of MB.
    case chunked(width: Int)

    static let fullLimit = 4 << 20   // floats (16 MB)

    init(pointwise: Bool, patchLength k: Int, columns n: Int) {
        if pointwise {
            self = .direct
        } else if k * n <= PatchPlan.fullLimit {
            self = .full
        } else {
            // Whole 32-column strips of the packed kernel (and 16-column OpenBLAS tiles), ~1 MB of patches:
            // at K = 4608 a 64-column chunk (1.2 MB) stays in L2, measured 13% faster than 128 columns.
            self = .chunked(width: (max(64, (1 << 18) / k) + 31) / 32 * 32)
        }
    }

    /// Scratch floats needed with `workers` threads.
    func scratchCount(patchLength k: Int, columns n: Int, workers: Int) -> Int {
        switch self {
        case .direct: return 0
        case .full: return k * n
        case .chunked(let width): return k * width * workers
        }
    }
}

/// Raw pointers of one convolution call; every piece touches a disjoint part of `y` (and of the
/// scratch), which is what makes sharing them across threads sound.
struct GEMMConvOperands: @unchecked Sendable {
    let x: UnsafePointer<Float>        // [N, C, H, W]
    let weight: UnsafePointer<Float>   // [O, K], K = C/groups * kH * kW
    let bias: UnsafePointer<Float>     // [O]
    let y: UnsafeMutablePointer<Float> // [N, O, OH, OW]
    let scratch: UnsafeMutablePointer<Float>?
}

/// One convolution reading a (possibly shared) patch matrix on the OpenBLAS path.
struct GEMMTarget {
    let weight: UnsafePointer<Float>   // [O, K]
    let bias: UnsafePointer<Float>     // [O]
    let y: UnsafeMutablePointer<Float> // [N, O, OH, OW]
    let outChannels: Int
    let activation: Activation
}

/// Runs a (grouped) convolution through OpenBLAS: for each image and group, `Y_g = W_g * P_g` with
/// `P_g` the patch matrix, the bias seeded into `Y_g` and the activation applied per tile while it is
/// in cache.
func gemmConvolution(_ op: GEMMConvOperands, batch: Int, groups: Int, outChannels: Int, geometry g: ConvGeometry,
                     plan: PatchPlan, activation: Activation) {
    gemmConvolution(x: op.x, scratch: op.scratch,
                    targets: [GEMMTarget(weight: op.weight, bias: op.bias, y: op.y, outChannels: outChannels,
                                         activation: activation)],
                    batch: batch, groups: groups, geometry: g, plan: plan)
}

/// `gemmConvolution` for several convolutions of the same geometry on the same input: each (image, group)
/// patch matrix is laid out once and every target multiplies it, with the same calls as alone (same bits).
func gemmConvolution(x: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>?, targets: [GEMMTarget],
                     batch: Int, groups: Int, geometry g: ConvGeometry, plan: PatchPlan) {
    Runtime.prepareBLAS()
    let k = g.patchLength
    let n = g.outHeight * g.outWidth, hw = g.height * g.width
    let inChannels = g.channels * groups
    for image in 0..<batch {
        for group in 0..<groups {
            let xg = x + (image * inChannels + group * g.channels) * hw
            // This image's and group's slice of every target: rows, weight, bias, output.
            let parts = targets.map { t in
                let og = t.outChannels / groups
                return (rows: og, w: t.weight + group * og * k, b: t.bias + group * og,
                        y: t.y + (image * t.outChannels + group * og) * n, activation: t.activation)
            }
            let box = UncheckedBox((xg, parts))
            // One tile: seed the bias (sgemm beta = 1 adds onto it; OpenBLAS would spend the same pass
            // zeroing C for beta = 0), multiply-accumulate, then activate while the tile is in cache.
            let tile = { (p: Int, rows: Range<Int>, cols: Range<Int>, patches: UnsafePointer<Float>, ldp: Int) in
                let part = box.value.1[p]
                for o in rows {
                    let row = part.y + o * n, b = part.b[o]
                    for j in cols { row[j] = b }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows.count), Int32(cols.count), Int32(k),
                            1, part.w + rows.lowerBound * k, Int32(k), patches, Int32(ldp),
                            1, part.y + rows.lowerBound * n + cols.lowerBound, Int32(n))
                if part.activation != .identity {
                    for o in rows { part.activation.apply(part.y + o * n + cols.lowerBound, count: cols.count) }
                }
            }
            // Small-k GEMMs are memory-bound: keep each output tile within ~256 KB (L2) for the epilogue.
            let tileLimit = k < 256 ? 1 << 16 : Int.max
            switch plan {
            case .direct:
                for p in parts.indices {
                    let grid = TileGrid(m: parts[p].rows, n: n, k: k, maxTileElements: tileLimit)
                    Runtime.parallelFor(pieces: grid.pieces) { piece, _ in
                        let (rows, cols) = grid.tile(piece)
                        tile(p, rows, cols, box.value.0 + cols.lowerBound, hw)
                    }
                }
            case .full:
                guard let scratch else { return }
                let sBox = UncheckedBox(scratch)
                let chunks = TileGrid(m: 1, n: n, k: 4_000_000)   // column chunks for a parallel im2col
                Runtime.parallelFor(pieces: chunks.pieces) { piece, _ in
                    let cols = chunks.tile(piece).cols
                    im2col(box.value.0, g, cols: cols, ld: n, into: sBox.value + cols.lowerBound)
                }
                for p in parts.indices {
                    let grid = TileGrid(m: parts[p].rows, n: n, k: k, maxTileElements: tileLimit)
                    Runtime.parallelFor(pieces: grid.pieces) { piece, _ in
                        let (rows, cols) = grid.tile(piece)
                        tile(p, rows, cols, sBox.value + cols.lowerBound, n)
                    }
                }
            case .chunked(let width):
                guard let scratch else { return }
                let sBox = UncheckedBox(scratch)
                let pieces = (n + width - 1) / width
                Runtime.parallelFor(pieces: pieces) { piece, worker in
                    let cols = piece * width..<min(n, (piece + 1) * width)
                    let patches = sBox.value + worker * k * width
                    im2col(box.value.0, g, cols: cols, into: patches)
                    for p in box.value.1.indices { tile(p, 0..<box.value.1[p].rows, cols, patches, cols.count) }
                }
            }
        }
    }
}
