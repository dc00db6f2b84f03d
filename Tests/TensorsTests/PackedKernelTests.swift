// The packed-weight GEMM kernel and the 3x3 depthwise kernel against brute force.
import XCTest
@testable import Tensors

final class PackedKernelTests: XCTestCase {
    override func tearDown() { Runtime.setThreads(2) }

    /// `act(bias + W * B)` in doubles.
    private func reference(_ w: [Float], _ b: [Float], bias: [Float], m: Int, n: Int, k: Int,
                           activation: Activation) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        let (lower, upper) = activation.bounds
        for o in 0..<m {
            for j in 0..<n {
                var s = Double(bias[o])
                for kk in 0..<k { s += Double(w[o * k + kk]) * Double(b[kk * n + j]) }
                c[o * n + j] = min(max(Float(s), lower), upper)
            }
        }
        return c
    }

    /// Rows not a multiple of 6, columns not a multiple of 32 (narrow last strip), K over one 256-deep
    /// pass, every activation; the parallel driver with 1 and 3 threads gives the same bits.
    func testPackedGEMMMatchesReferenceOnRaggedShapes() {
        var rng = SeededGenerator(seed: 11)
        for (m, n, k) in [(1, 1, 1), (5, 31, 3), (6, 32, 16), (7, 33, 27), (13, 70, 300), (24, 100, 520), (40, 9, 64)] {
            for activation in [Activation.identity, .relu, .relu6] {
                let w = randomTensor([m, k], &rng).data, b = randomTensor([k, n], &rng).data
                let bias = randomTensor([m], &rng).data.map { $0 * 4 }
                let want = reference(w, b, bias: bias, m: m, n: n, k: k, activation: activation)
                let packed = w.withUnsafeBufferPointer { PackedWeight($0.baseAddress!, m: m, k: k) }
                var outputs: [[Float]] = []
                for threads in [1, 3] {
                    Runtime.setThreads(threads)
                    let grid = PackedGrid(m: m, n: n, k: k)
                    var scratch = [Float](repeating: .nan, count: packedScratchCount(grid, k: k) * threads)
                    var c = [Float](repeating: .nan, count: m * n)
                    b.withUnsafeBufferPointer { bb in bias.withUnsafeBufferPointer { biasb in
                        c.withUnsafeMutableBufferPointer { cb in scratch.withUnsafeMutableBufferPointer { sb in
                            packedConvolution(packed, bias: biasb.baseAddress!, b: bb.baseAddress!, ldb: n,
                                              y: cb.baseAddress!, n: n, activation: activation, scratch: sb.baseAddress!)
                        } }
                    } }
                    assertClose(Tensor(shape: [m, n], data: c), Tensor(shape: [m, n], data: want), atol: 1e-3,
                                "packed m\(m) n\(n) k\(k) \(activation) threads \(threads)")
                    outputs.append(c)
                }
                XCTAssertEqual(outputs[0], outputs[1], "m\(m) n\(n) k\(k): thread count changed the bits")
            }
        }
    }

    /// Any tiling gives the same bits: a single tile and a split at row 6 / column 32 agree exactly.
    func testPackedGEMMTilingDoesNotChangeBits() {
        var rng = SeededGenerator(seed: 12)
        let (m, n, k) = (17, 75, 600)
        let w = randomTensor([m, k], &rng).data, b = randomTensor([k, n], &rng).data, bias = randomTensor([m], &rng).data
        let packed = w.withUnsafeBufferPointer { PackedWeight($0.baseAddress!, m: m, k: k) }
        func run(_ tiles: [(Range<Int>, Range<Int>)]) -> [Float] {
            var c = [Float](repeating: .nan, count: m * n)
            var work = [Float](repeating: .nan, count: packedWorkCount(k: k, rows: 18))
            b.withUnsafeBufferPointer { bb in bias.withUnsafeBufferPointer { biasb in
                c.withUnsafeMutableBufferPointer { cb in work.withUnsafeMutableBufferPointer { wb in
                    for (rows, cols) in tiles {
                        packedGEMM(packed, bias: biasb.baseAddress!, b: bb.baseAddress!, ldb: n, c: cb.baseAddress!,
                                   ldc: n, rows: rows, cols: cols, activation: .relu, work: wb.baseAddress!)
                    }
                } }
            } }
            return c
        }
        let whole = run([(0..<m, 0..<n)])
        XCTAssertFalse(whole.contains { $0.isNaN })
        XCTAssertEqual(whole, run([(0..<6, 0..<32), (0..<6, 32..<n), (6..<m, 0..<40), (6..<m, 40..<n)]))
    }

    /// Ungrouped convolutions on the packed kernel through each patch plan (direct 1x1, whole patch
    /// matrix, per-piece chunks), batch 2, against the direct definition.
    func testEveryPatchPlanOnThePackedKernel() {
        var rng = SeededGenerator(seed: 13)
        for (k, s, p, d, activation) in [(1, 1, 0, 1, Activation.relu6), (3, 1, 1, 1, .relu), (3, 2, 1, 1, .identity),
                                          (3, 1, 3, 3, .relu)] {
            let x = randomTensor([2, 5, 23, 19], &rng)
            let wt = randomTensor([11, 5, k, k], &rng)
            let bias = randomTensor([11], &rng).data
            let conv = Conv2D(weight: wt, bias: bias, stride: s, padding: p, dilation: d, activation: activation)
            let g = conv.geometry(for: x.shape)
            let n = g.outHeight * g.outWidth
            let packed = wt.data.withUnsafeBufferPointer { PackedWeight($0.baseAddress!, m: 11, k: g.patchLength) }
            let want = directConv(x, weight: wt, bias: bias, stride: s, padding: p, dilation: d, groups: 1,
                                  activation: activation)
            let plans: [PatchPlan] = k == 1 ? [.direct, .full, .chunked(width: 64)] : [.full, .chunked(width: 64), .chunked(width: 96)]
            for plan in plans {
                var y = Tensor(zeros: want.shape)
                var scratch = [Float](repeating: .nan, count: packedConvScratchCount(plan, weight: packed, columns: n))
                x.data.withUnsafeBufferPointer { xb in y.data.withUnsafeMutableBufferPointer { yb in
                    scratch.withUnsafeMutableBufferPointer { sb in bias.withUnsafeBufferPointer { bb in
                        for image in 0..<2 {
                            packedConvImage(packed, bias: bb.baseAddress!, x: xb.baseAddress! + image * 5 * 23 * 19,
                                            geometry: g, plan: plan, y: yb.baseAddress! + image * 11 * n,
                                            activation: activation, scratch: sb.baseAddress!)
                        }
                    } }
                } }
                assertClose(y, want, atol: 1e-3, "packed plan \(plan) k\(k) s\(s) p\(p) d\(d)")
            }
        }
    }

    func testDeepLayersStayOnOpenBLAS() {
        XCTAssertEqual(PackedWeight.handles(m: 1024, patchLength: 2304, groups: 1), PackedWeight.enabled)
        XCTAssertEqual(PackedWeight.handles(m: 512, patchLength: 4608, groups: 1), PackedWeight.enabled)
        XCTAssertEqual(PackedWeight.handles(m: 84, patchLength: 9216, groups: 1), PackedWeight.enabled)
        XCTAssertFalse(PackedWeight.handles(m: 1024, patchLength: 4608, groups: 1))
        XCTAssertFalse(PackedWeight.handles(m: 6, patchLength: 18, groups: 3))
    }
}
