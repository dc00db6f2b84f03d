import XCTest
@testable import Tensors

/// Two convolutions of one input from one patch matrix (`Conv2D.convolve(_:_:sharingPatchesOf:...)`, an SSD
/// source's two heads) against each conv run alone: the same bits, on both GEMM kernels and every patch plan.
final class SharedPatchesTests: XCTestCase {
    /// Head-like pairs (126 and 24 outputs, 3x3 pad 1) on a small map (`.full` plan) and on a map wide enough
    /// for `.chunked`; the second pair has an activation and a strided, dilated window.
    func testSharedPatchesEqualSeparateConvolutions() {
        var rng = SeededGenerator(seed: 41)
        for (shape, s, p, d, activation) in [([2, 16, 19, 17], 1, 1, 1, Activation.identity),
                                             ([1, 64, 92, 92], 1, 1, 1, .identity),
                                             ([1, 9, 23, 29], 2, 2, 2, .relu)] {
            let x = randomTensor(shape, &rng)
            let a = Conv2D(weight: randomTensor([126, shape[1], 3, 3], &rng), bias: randomTensor([126], &rng).data,
                           stride: s, padding: p, dilation: d, activation: activation)
            let b = Conv2D(weight: randomTensor([24, shape[1], 3, 3], &rng), bias: randomTensor([24], &rng).data,
                           stride: s, padding: p, dilation: d, activation: activation)
            XCTAssertTrue(a.sharesPatches(with: b))
            let g = a.geometry(for: shape)
            let plan = PatchPlan(pointwise: false, patchLength: g.patchLength, columns: g.outHeight * g.outWidth)
            var ya = Tensor(shape: [0], data: []), yb = Tensor(shape: [0], data: [])
            var scratch: [Float] = []
            Conv2D.convolve(a, b, sharingPatchesOf: x, into: &ya, &yb, scratch: &scratch)
            XCTAssertEqual(ya.shape, a.outputShape(for: shape))
            XCTAssertEqual(ya.data, a(x).data, "first conv, \(shape), plan \(plan)")
            XCTAssertEqual(yb.data, b(x).data, "second conv, \(shape), plan \(plan)")
            // Not merely self-consistent: the oracle agrees.
            if shape[1] == 9 {
                assertClose(yb, directConv(x, weight: b.weight, bias: b.bias, stride: s, padding: p, dilation: d,
                                           groups: 1, activation: activation), atol: 1e-4, "oracle")
            }
        }
    }

    /// The packed kernel's shared path (what optimised builds run; debug builds use OpenBLAS above).
    func testPackedTargetsEqualSinglePackedConvolutions() {
        var rng = SeededGenerator(seed: 43)
        let x = randomTensor([1, 7, 21, 18], &rng)
        let wa = randomTensor([20, 7, 3, 3], &rng), wb = randomTensor([8, 7, 3, 3], &rng)
        let ba = randomTensor([20], &rng).data, bb = randomTensor([8], &rng).data
        let g = Conv2D(weight: wa, bias: ba, padding: 1).geometry(for: x.shape)
        let n = g.outHeight * g.outWidth, k = g.patchLength
        let pa = wa.data.withUnsafeBufferPointer { PackedWeight($0.baseAddress!, m: 20, k: k) }
        let pb = wb.data.withUnsafeBufferPointer { PackedWeight($0.baseAddress!, m: 8, k: k) }
        for plan in [PatchPlan.full, .chunked(width: 64), .chunked(width: 96)] {
            let count = packedConvScratchCount(plan, weights: [pa, pb], columns: n)
            var scratch = [Float](repeating: .nan, count: count)
            var shared = [Float](repeating: .nan, count: 28 * n), alone = [Float](repeating: .nan, count: 28 * n)
            x.data.withUnsafeBufferPointer { xb in ba.withUnsafeBufferPointer { bab in bb.withUnsafeBufferPointer { bbb in
                scratch.withUnsafeMutableBufferPointer { sb in
                    shared.withUnsafeMutableBufferPointer { yb in
                        packedConvImage([PackedTarget(w: pa, bias: bab.baseAddress!, y: yb.baseAddress!, activation: .relu6),
                                         PackedTarget(w: pb, bias: bbb.baseAddress!, y: yb.baseAddress! + 20 * n,
                                                      activation: .identity)],
                                        x: xb.baseAddress!, geometry: g, plan: plan, scratch: sb.baseAddress!)
                    }
                    alone.withUnsafeMutableBufferPointer { yb in
                        packedConvImage(pa, bias: bab.baseAddress!, x: xb.baseAddress!, geometry: g, plan: plan,
                                        y: yb.baseAddress!, activation: .relu6, scratch: sb.baseAddress!)
                        packedConvImage(pb, bias: bbb.baseAddress!, x: xb.baseAddress!, geometry: g, plan: plan,
                                        y: yb.baseAddress! + 20 * n, activation: .identity, scratch: sb.baseAddress!)
                    }
                }
            } } }
            XCTAssertEqual(shared, alone, "plan \(plan)")
            let want = directConv(x, weight: wb, bias: bb, stride: 1, padding: 1, dilation: 1, groups: 1,
                                  activation: .identity)
            assertClose(Tensor(shape: want.shape, data: Array(shared[(20 * n)...])), want, atol: 1e-4, "oracle \(plan)")
        }
    }

    func testOnlyEqualWindowsSharePatches() {
        var rng = SeededGenerator(seed: 47)
        let conv = { (c: Int, k: Int, s: Int, p: Int) in
            Conv2D(weight: randomTensor([4, c, k, k], &rng), bias: nil, stride: s, padding: p)
        }
        let base = conv(8, 3, 1, 1)
        XCTAssertTrue(base.sharesPatches(with: conv(8, 3, 1, 1)))
        XCTAssertFalse(base.sharesPatches(with: conv(8, 3, 2, 1)))
        XCTAssertFalse(base.sharesPatches(with: conv(8, 3, 1, 0)))
        XCTAssertFalse(base.sharesPatches(with: conv(6, 3, 1, 1)))
        XCTAssertFalse(conv(8, 1, 1, 0).sharesPatches(with: conv(8, 1, 1, 0)))   // 1x1: no patches to share
    }
}
