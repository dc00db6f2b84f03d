// Conv2D.accumulateInputGram against explicit im2col rows.
import XCTest
@testable import Tensors

final class GramTests: XCTestCase {
    /// Builds the im2col rows of group `g` literally from the definition and sums their outer products.
    private func oracleGram(_ x: Tensor, _ conv: Conv2D, group: Int) -> [Double] {
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let cg = c / conv.groups, kh = conv.kernelH, kw = conv.kernelW, d = cg * kh * kw
        let out = conv.outputShape(for: x.shape)
        var gram = [Double](repeating: 0, count: d * d)
        for b in 0..<n { for oy in 0..<out[2] { for ox in 0..<out[3] {
            var row = [Double](repeating: 0, count: d)
            for ci in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * conv.stride - conv.padding + ky * conv.dilation
                let ix = ox * conv.stride - conv.padding + kx * conv.dilation
                if iy >= 0 && iy < h && ix >= 0 && ix < w {
                    row[(ci * kh + ky) * kw + kx] = Double(x.data[((b * c + group * cg + ci) * h + iy) * w + ix])
                }
            } } }
            for i in 0..<d { for j in 0..<d { gram[i * d + j] += row[i] * row[j] } }
        } } }
        return gram
    }

    func testGramMatchesOracleForDenseGroupedDepthwiseAndPointwise() {
        var rng = SeededGenerator(seed: 77)
        let configs: [(shape: [Int], groups: Int, k: Int, s: Int, p: Int, d: Int)] = [
            ([6, 4, 3, 3], 1, 3, 1, 1, 1), ([6, 2, 3, 3], 2, 3, 2, 1, 1), ([4, 1, 3, 3], 4, 3, 1, 1, 1),
            ([5, 4, 1, 1], 1, 1, 1, 0, 1), ([3, 4, 3, 3], 1, 3, 1, 2, 2),
        ]
        for cfg in configs {
            let conv = Conv2D(weight: randomTensor(cfg.shape, &rng), bias: nil, stride: cfg.s, padding: cfg.p,
                              dilation: cfg.d, groups: cfg.groups)
            let x1 = randomTensor([1, 4, 7, 6], &rng), x2 = randomTensor([2, 4, 5, 8], &rng)
            var gram: [[Double]] = []
            conv.accumulateInputGram(x1, into: &gram)
            conv.accumulateInputGram(x2, into: &gram)     // accumulates across calls and batch entries
            XCTAssertEqual(gram.count, cfg.groups)
            checkAgainstOracle(conv, [x1, x2], gram)
        }
    }

    /// A large Gram (d = 16 * 9 = 144 >= 128) goes through the row-block path.
    func testLargeGramMatchesOracle() {
        var rng = SeededGenerator(seed: 78)
        let conv = Conv2D(weight: randomTensor([4, 16, 3, 3], &rng), bias: nil, stride: 1, padding: 1)
        let x1 = randomTensor([1, 16, 6, 7], &rng), x2 = randomTensor([2, 16, 5, 4], &rng)
        var gram: [[Double]] = []
        conv.accumulateInputGram(x1, into: &gram)
        conv.accumulateInputGram(x2, into: &gram)
        checkAgainstOracle(conv, [x1, x2], gram)
    }

    private func checkAgainstOracle(_ conv: Conv2D, _ inputs: [Tensor], _ gram: [[Double]],
                                    file: StaticString = #filePath, line: UInt = #line) {
        for g in 0..<conv.groups {
            var want = [Double](repeating: 0, count: conv.patchLength * conv.patchLength)
            for x in inputs { for (i, v) in oracleGram(x, conv, group: g).enumerated() { want[i] += v } }
            XCTAssertEqual(gram[g].count, want.count, file: file, line: line)
            for (a, b) in zip(gram[g], want) {
                XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), "gram \(conv.weight.shape) group \(g)",
                               file: file, line: line)
            }
        }
    }
}
