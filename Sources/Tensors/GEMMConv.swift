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

/// Runs a (grouped) convolution through OpenBLAS: for each image and group, `Y_g = W_g * P_g` with
/// `P_g` the patch matrix, the bias seeded into `Y_g` and the activation applied per tile while it is
/// in cache.
func gemmConvolution(_ op: GEMMConvOperands, batch: Int, groups: Int, outChannels: Int, geometry g: ConvGeometry,
                     plan: PatchPlan, activation: Activation) {
    Runtime.prepareBLAS()
    let og = outChannels / groups, k = g.patchLength
    let n = g.outHeight * g.outWidth, hw = g.height * g.width
    let inChannels = g.channels * groups
    for image in 0..<batch {
        for group in 0..<groups {
            let xg = op.x + (image * inChannels + group * g.channels) * hw
            let yg = op.y + (image * outChannels + group * og) * n
            let wg = op.weight + group * og * k
            let bg = op.bias + group * og
            let xBox = UncheckedBox(xg), yBox = UncheckedBox(yg), wBox = UncheckedBox(wg), bBox = UncheckedBox(bg)
            // One tile: seed the bias (sgemm beta = 1 adds onto it; OpenBLAS would spend the same pass
            // zeroing C for beta = 0), multiply-accumulate, then activate while the tile is in cache.
            let tile = { (rows: Range<Int>, cols: Range<Int>, patches: UnsafePointer<Float>, ldp: Int) in
                let yg = yBox.value
                for o in rows {
                    let row = yg + o * n, b = bBox.value[o]
                    for j in cols { row[j] = b }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows.count), Int32(cols.count), Int32(k),
                            1, wBox.value + rows.lowerBound * k, Int32(k), patches, Int32(ldp),
                            1, yg + rows.lowerBound * n + cols.lowerBound, Int32(n))
                if activation != .identity {
                    for o in rows { activation.apply(yg + o * n + cols.lowerBound, count: cols.count) }
                }
            }
            // Small-k GEMMs are memory-bound: keep each output tile within ~256 KB (L2) for the epilogue.
            let tileLimit = k < 256 ? 1 << 16 : Int.max
            switch plan {
            case .direct:
                let grid = TileGrid(m: og, n: n, k: k, maxTileElements: tileLimit)
                Runtime.parallelFor(pieces: grid.pieces) { piece, _ in
                    let (rows, cols) = grid.tile(piece)
                    tile(rows, cols, xBox.value + cols.lowerBound, hw)
                }
            case .full:
                guard let scratch = op.scratch else { return }
                let sBox = UncheckedBox(scratch)
                let chunks = TileGrid(m: 1, n: n, k: 4_000_000)   // column chunks for a parallel im2col
                Runtime.parallelFor(pieces: chunks.pieces) { piece, _ in
                    let cols = chunks.tile(piece).cols
                    im2col(xBox.value, g, cols: cols, ld: n, into: sBox.value + cols.lowerBound)
                }
                let grid = TileGrid(m: og, n: n, k: k, maxTileElements: tileLimit)
                Runtime.parallelFor(pieces: grid.pieces) { piece, _ in
                    let (rows, cols) = grid.tile(piece)
                    tile(rows, cols, sBox.value + cols.lowerBound, n)
                }
            case .chunked(let width):
                guard let scratch = op.scratch else { return }
                let sBox = UncheckedBox(scratch)
                let pieces = (n + width - 1) / width
                Runtime.parallelFor(pieces: pieces) { piece, worker in
                    let cols = piece * width..<min(n, (piece + 1) * width)
                    let patches = sBox.value + worker * k * width
                    im2col(xBox.value, g, cols: cols, into: patches)
                    tile(0..<og, cols, patches, cols.count)
                }
            }
        }
    }
}
