// Conv2D against a brute-force direct convolution over every parameter combination.
import XCTest
@testable import Tensors

/// The definition of convolution, written as plainly as possible (double accumulation).
func directConv(_ x: Tensor, weight: Tensor, bias: [Float]?, stride: Int, padding: Int, dilation: Int,
                groups: Int, activation: Activation) -> Tensor {
    let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    let o = weight.shape[0], cg = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
    precondition(cg * groups == c)
    let og = o / groups
    let oh = (h + 2 * padding - dilation * (kh - 1) - 1) / stride + 1
    let ow = (w + 2 * padding - dilation * (kw - 1) - 1) / stride + 1
    var y = Tensor(zeros: [n, o, oh, ow])
    for b in 0..<n { for oc in 0..<o { for oy in 0..<oh { for ox in 0..<ow {
        var s = Double(bias?[oc] ?? 0)
        let grp = oc / og
        for ci in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
            let iy = oy * stride - padding + ky * dilation, ix = ox * stride - padding + kx * dilation
            if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
            let xv = x.data[((b * c + grp * cg + ci) * h + iy) * w + ix]
            let wv = weight.data[((oc * cg + ci) * kh + ky) * kw + kx]
            s += Double(xv) * Double(wv)
        } } }
        var v = Float(s)
        switch activation {
        case .identity: break
        case .relu: v = max(v, 0)
        case .relu6: v = min(max(v, 0), 6)
        }
        y.data[((b * o + oc) * oh + oy) * ow + ox] = v
    } } } }
    return y
}

final class ConvOracleTests: XCTestCase {
    /// Every combination of groups, stride, padding, dilation, kernel and batch on small random inputs.
    func testConvMatchesDirectOracleOverParameterGrid() {
        var rng = SeededGenerator(seed: 42)
        var cases = 0
        for groups in [1, 2, 3] {
            for (kh, kw) in [(1, 1), (3, 3), (2, 3)] {
                for stride in 1...3 {
                    for padding in 0...2 {
                        for dilation in [1, 2, 3] {
                            let cPer = Int.random(in: 1...3, using: &rng), oPer = Int.random(in: 1...3, using: &rng)
                            let h = Int.random(in: 5...11, using: &rng), w = Int.random(in: 5...11, using: &rng)
                            let batch = (cases % 4 == 0) ? 2 : 1
                            if h + 2 * padding < dilation * (kh - 1) + 1 || w + 2 * padding < dilation * (kw - 1) + 1 {
                                continue
                            }
                            let x = randomTensor([batch, cPer * groups, h, w], &rng)
                            let wt = randomTensor([oPer * groups, cPer, kh, kw], &rng)
                            let bias: [Float]? = cases % 3 == 0 ? nil : (0..<(oPer * groups)).map { _ in Float.random(in: -1...1, using: &rng) }
                            let act: Activation = [.identity, .relu, .relu6][cases % 3]
                            let conv = Conv2D(weight: wt, bias: bias, stride: stride, padding: padding,
                                              dilation: dilation, groups: groups, activation: act)
                            let want = directConv(x, weight: wt, bias: bias, stride: stride, padding: padding,
                                                  dilation: dilation, groups: groups, activation: act)
                            assertClose(conv(x), want, atol: 1e-5, rtol: 1e-5,
                                        "g\(groups) k\(kh)x\(kw) s\(stride) p\(padding) d\(dilation) \(x.shape)")
                            cases += 1
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(cases, 200)
    }

    /// Depthwise (groups == channels) through its dedicated kernel, the MobileNet configurations
    /// and a few others, with sizes large enough for several parallel pieces.
    func testDepthwiseMatchesOracle() {
        var rng = SeededGenerator(seed: 7)
        for (stride, padding, dilation, k) in [(1, 1, 1, 3), (2, 1, 1, 3), (1, 0, 1, 3), (2, 2, 2, 3), (1, 2, 1, 5), (3, 1, 1, 3)] {
            // Odd and even sides (stride-2 phases), single rows/columns, and MobileNet's 38/19/10 planes.
            for (h, w) in [(19, 19), (10, 7), (3, 3), (5, 4), (6, 17), (1, 1), (2, 9), (38, 38), (10, 10), (7, 1),
                           (1, 6), (21, 20)]
            where min(h, w) + 2 * padding >= dilation * (k - 1) + 1 {
                let c = 7
                let activation = [Activation.identity, .relu, .relu6][(h + w) % 3]
                let x = randomTensor([2, c, h, w], &rng)
                let wt = randomTensor([c, 1, k, k], &rng)
                let bias = (0..<c).map { _ in Float.random(in: -1...1, using: &rng) }
                let conv = Conv2D(weight: wt, bias: bias, stride: stride, padding: padding, dilation: dilation,
                                  groups: c, activation: activation)
                XCTAssertEqual(conv.kernel, .depthwise)
                let want = directConv(x, weight: wt, bias: bias, stride: stride, padding: padding,
                                      dilation: dilation, groups: c, activation: activation)
                assertClose(conv(x), want, "depthwise s\(stride) p\(padding) d\(dilation) k\(k) \(h)x\(w) \(activation)")
            }
        }
    }

    /// Larger GEMM-path shapes (several column pieces, K across many channels), 1x1 and 3x3.
    func testLargerGemmShapesMatchOracle() {
        var rng = SeededGenerator(seed: 99)
        for (c, o, h, k, s, p, d) in [(32, 24, 19, 3, 1, 1, 1), (48, 40, 20, 1, 1, 0, 1), (16, 20, 23, 3, 2, 1, 1),
                                      (24, 16, 19, 3, 1, 6, 6)] {
            let x = randomTensor([1, c, h, h], &rng)
            let wt = randomTensor([o, c, k, k], &rng, scale: 0.2)
            let bias = (0..<o).map { _ in Float.random(in: -1...1, using: &rng) }
            let conv = Conv2D(weight: wt, bias: bias, stride: s, padding: p, dilation: d, activation: .relu)
            let want = directConv(x, weight: wt, bias: bias, stride: s, padding: p, dilation: d, groups: 1,
                                  activation: .relu)
            assertClose(conv(x), want, atol: 2e-5, rtol: 1e-5, "gemm c\(c) o\(o) h\(h) k\(k) s\(s) p\(p) d\(d)")
        }
    }

    /// Every patch plan (direct, full im2col, chunked im2col) on the same problem gives the oracle's
    /// answer; the chunked plan is forced with a small width since real shapes need huge inputs.
    func testEveryPatchPlanMatchesOracle() {
        var rng = SeededGenerator(seed: 123)
        for (k, s, p, groups) in [(1, 1, 0, 1), (3, 1, 1, 1), (3, 2, 1, 2), (1, 1, 0, 2)] {
            let x = randomTensor([2, 6, 13, 11], &rng)
            let wt = randomTensor([8, 6 / groups, k, k], &rng)
            let bias = (0..<8).map { _ in Float.random(in: -1...1, using: &rng) }
            let conv = Conv2D(weight: wt, bias: bias, stride: s, padding: p, groups: groups, activation: .relu6)
            let want = directConv(x, weight: wt, bias: bias, stride: s, padding: p, dilation: 1, groups: groups,
                                  activation: .relu6)
            let g = conv.geometry(for: x.shape)
            var plans: [PatchPlan] = [.full, .chunked(width: 16), .chunked(width: 48)]
            if k == 1 && s == 1 && p == 0 { plans.append(.direct) }
            for plan in plans {
                var y = Tensor(zeros: want.shape)
                var scratch = [Float](repeating: .nan, count: g.patchLength * 13 * 11 * 4)
                x.data.withUnsafeBufferPointer { xb in
                    wt.data.withUnsafeBufferPointer { wb in
                        bias.withUnsafeBufferPointer { bb in
                            y.data.withUnsafeMutableBufferPointer { yb in
                                scratch.withUnsafeMutableBufferPointer { sb in
                                    gemmConvolution(GEMMConvOperands(x: xb.baseAddress!, weight: wb.baseAddress!,
                                                                     bias: bb.baseAddress!, y: yb.baseAddress!,
                                                                     scratch: sb.baseAddress),
                                                    batch: 2, groups: groups, outChannels: 8, geometry: g, plan: plan,
                                                    activation: .relu6)
                                }
                            }
                        }
                    }
                }
                assertClose(y, want, "plan \(plan) k\(k) s\(s) p\(p) g\(groups)")
            }
        }
    }

    /// Reusing output and scratch buffers across differently shaped calls gives fresh results.
    func testIntoVariantReusesBuffers() {
        var rng = SeededGenerator(seed: 5)
        let conv = Conv2D(weight: randomTensor([6, 4, 3, 3], &rng), bias: nil, padding: 1)
        var y = Tensor(shape: [0], data: [])
        var scratch: [Float] = []
        for size in [9, 5, 12, 9] {
            let x = randomTensor([1, 4, size, size], &rng)
            conv(x, into: &y, scratch: &scratch)
            XCTAssertEqual(y, conv(x))
            assertClose(y, directConv(x, weight: conv.weight, bias: nil, stride: 1, padding: 1, dilation: 1,
                                      groups: 1, activation: .identity), "reuse \(size)")
        }
    }

    /// `replacingWeight` keeps the hyper-parameters and uses the new weight.
    func testReplacingWeight() {
        var rng = SeededGenerator(seed: 11)
        let conv = Conv2D(weight: randomTensor([4, 2, 3, 3], &rng), bias: nil, stride: 2, padding: 1, dilation: 1,
                          groups: 2, activation: .relu)
        let w2 = randomTensor([4, 2, 3, 3], &rng)
        let b2: [Float] = [0.5, -0.5, 1, 0]
        let swapped = conv.replacingWeight(w2, bias: b2)
        XCTAssertEqual(swapped.weight, w2)
        let x = randomTensor([1, 4, 7, 7], &rng)
        assertClose(swapped(x), directConv(x, weight: w2, bias: b2, stride: 2, padding: 1, dilation: 1, groups: 2,
                                           activation: .relu), "replaced")
    }
}
