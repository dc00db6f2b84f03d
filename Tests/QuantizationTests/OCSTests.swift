import XCTest
import Quantization

final class OCSTests: XCTestCase {
    /// Plain direct 2-D convolution, stride 1, zero padding `pad`: `x [C_in, H, W]`, `w [C_out, C_in, k, k]`
    /// → `y [C_out, H, W]` (same size for `pad = (k-1)/2`), accumulated in Double.
    private func conv(_ x: [Float], _ w: [Float], cIn: Int, cOut: Int, size: Int, k: Int) -> [Double] {
        let pad = (k - 1) / 2
        var y = [Double](repeating: 0, count: cOut * size * size)
        for o in 0..<cOut { for r in 0..<size { for c in 0..<size {
            var s = 0.0
            for i in 0..<cIn { for u in 0..<k { for v in 0..<k {
                let rr = r + u - pad, cc = c + v - pad
                if rr >= 0 && rr < size && cc >= 0 && cc < size {
                    s += Double(w[((o * cIn + i) * k + u) * k + v]) * Double(x[(i * size + rr) * size + cc])
                }
            } } }
            y[(o * size + r) * size + c] = s
        } } }
        return y
    }

    /// The split network equals the original in float: conv(x', W') = conv(x, W) for a random 3×3 conv with
    /// outliers. Splits in order: channel 2 (40 → 20 + copy 6 at 20), channel 2 again (20 → 10 + copy 7),
    /// copy 6 (20 → 10 + copy 8), channel 4 (12 → 6 + copy 9): input channel 2 ends as four copies of W/4.
    func testSplitLayerEqualsOriginal() throws {
        var rng = SeededRNG(seed: 5)
        let cIn = 6, cOut = 5, k = 3, size = 7
        var w = rng.gaussianFloats(cOut * cIn * k * k)
        w[((1 * cIn + 2) * k + 1) * k + 1] = 40      // W[1, 2, 1, 1]
        w[((3 * cIn + 4) * k + 0) * k + 2] = -12     // W[3, 4, 0, 2]
        let split = try OCS.split(weights: w, outputChannels: cOut, inputChannels: cIn, kernelSize: k * k, splits: 4)
        XCTAssertEqual(split.inputChannelMap, [0, 1, 2, 3, 4, 5, 2, 2, 2, 4])
        XCTAssertEqual(split.splits, 4)
        let x = rng.gaussianFloats(cIn * size * size)
        let y = conv(x, w, cIn: cIn, cOut: cOut, size: size, k: k)
        let ySplit = conv(split.expandInput(x, valuesPerChannel: size * size), split.expandedWeights,
                          cIn: cIn + 4, cOut: cOut, size: size, k: k)
        for (a, b) in zip(y, ySplit) { XCTAssertEqual(a, b, accuracy: 1e-12 * Swift.max(1, Swift.abs(a))) }
        // The largest |w| after splitting: 40/4 = 10 (the rest: 6 and N(0,1) values).
        XCTAssertEqual(split.expandedWeights.map { Swift.abs($0) }.max(), 10)
    }

    /// Hand-computed, b = 3 (M = 3), one output channel, 1×1 kernel, w = (4, 1.2, 0.6, -0.3), one split:
    /// - RTN: s = 4/3, w/s = (3, 0.9, 0.45, -0.225) → q = (3, 1, 0, 0), ŵ = (4, 1.333, 0, 0),
    ///   error = 0.1333² + 0.6² + 0.3² = 0.017778 + 0.36 + 0.09 = 0.467778.
    /// - OCS: channel 0 split → w' = (2, 1.2, 0.6, -0.3, 2), s = 2/3, w'/s = (3, 1.8, 0.9, -0.45, 3) →
    ///   q = (3, 2, 1, 0, 3); folded ŵ = (2+2, 1.333, 0.667, 0), error = 0.017778 + 0.004444 + 0.09 = 0.112222.
    func testHandComputedSplitQuantization() throws {
        let grid = try QuantGrid(bits: 3)
        let w: [Float] = [4, 1.2, 0.6, -0.3]
        let result = try OCS.quantize(weights: w, outputChannels: 1, inputChannels: 4, kernelSize: 1, groups: 1,
                                      extraFraction: 0.25, grid: grid)
        XCTAssertTrue(result.applied)
        XCTAssertEqual(result.split.inputChannelMap, [0, 1, 2, 3, 0])
        XCTAssertEqual(result.quantized.codes, [3, 2, 1, 0, 3])
        XCTAssertEqual(result.quantized.scales[0], Float(2.0 / 3.0), accuracy: 1e-7)
        let error = zip(w, result.foldedWeights).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        XCTAssertEqual(error, 0.112222, accuracy: 1e-5)
        let rtn = try WeightQuantizer.quantize(weights: w, channels: 1, dimension: 4, grid: grid, method: .rtn)
        let rtnError = zip(w, rtn.reconstructed()).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        XCTAssertEqual(rtnError, 0.467778, accuracy: 1e-5)
    }

    /// Seeded layers with a few outlier input channels: at the same bits, the folded OCS weights have a lower
    /// squared error than RTN on the original weights, for b = 3, 4, 5 and expand ratio 1/8.
    func testSplittingReducesErrorOnOutliers() throws {
        var rng = SeededRNG(seed: 17)
        for bits in 3...5 {
            let cOut = 16, cIn = 32, k = 9
            var w = rng.gaussianFloats(cOut * cIn * k, scale: 0.1)
            for j in [3, 11, 20, 27] {           // outlier input channels: a large weight in most rows
                for o in 0..<cOut where o % 3 != 0 { w[(o * cIn + j) * k + o % k] = Float(2 + rng.gaussian() * 0.3) }
            }
            let grid = try QuantGrid(bits: bits)
            let ocs = try OCS.quantize(weights: w, outputChannels: cOut, inputChannels: cIn, kernelSize: k,
                                       groups: 1, extraFraction: 0.125, grid: grid)
            XCTAssertEqual(ocs.split.splits, 4)
            let rtn = try WeightQuantizer.quantize(weights: w, channels: cOut, dimension: cIn * k, grid: grid,
                                                   method: .rtn).reconstructed()
            let eOCS = zip(w, ocs.foldedWeights).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            let eRTN = zip(w, rtn).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            XCTAssertLessThan(eOCS, eRTN, "bits \(bits)")
        }
    }

    /// Expand-ratio accounting: multipoint at 4.25 bits with 4-bit points has extra fraction 0.0625; a layer with
    /// C_in = 32 splits floor(0.0625·32) = 2 channels → average bits 4·34/32 = 4.25, extra MACs 2/32 = 0.0625,
    /// bytes = ceil(4·8·34·9/8) + 4·8 = 1224 + 32. C_in = 20 splits floor(1.25) = 1 → 4·21/20 = 4.2 ≤ 4.25.
    func testExpandRatioAccounting() throws {
        let grid = try QuantGrid(bits: 4)
        let f = try OCS.extraFraction(matchingAverageBits: 4.25, bits: 4)
        XCTAssertEqual(f, 0.0625)
        XCTAssertEqual(try OCS.splitCount(inputChannels: 32, extraFraction: f), 2)
        XCTAssertEqual(try OCS.splitCount(inputChannels: 20, extraFraction: f), 1)
        var rng = SeededRNG(seed: 2)
        let result = try OCS.quantize(weights: rng.gaussianFloats(8 * 32 * 9), outputChannels: 8, inputChannels: 32,
                                      kernelSize: 9, groups: 1, extraFraction: f, grid: grid)
        XCTAssertEqual(result.averageWeightBits, 4.25)
        XCTAssertEqual(result.extraMACs, 0.0625)
        XCTAssertEqual(result.codeBits, 4 * 8 * 34 * 9)
        XCTAssertEqual(result.bytes(), 1224 + 32)
        XCTAssertEqual(result.quantized.dimension, 34 * 9)
        let small = try OCS.quantize(weights: rng.gaussianFloats(2 * 20), outputChannels: 2, inputChannels: 20,
                                     kernelSize: 1, groups: 1, extraFraction: f, grid: grid)
        XCTAssertEqual(small.averageWeightBits, 4.2, accuracy: 1e-12)
        XCTAssertThrowsError(try OCS.extraFraction(matchingAverageBits: 3.5, bits: 4))
        XCTAssertThrowsError(try OCS.splitCount(inputChannels: 4, extraFraction: -0.1))
    }

    /// Depthwise (groups = C) and other grouped convs are not split: the result is plain RTN, no extra bits.
    func testGroupedConvIsNotSplit() throws {
        var rng = SeededRNG(seed: 9)
        let w = rng.gaussianFloats(6 * 1 * 9)
        let grid = try QuantGrid(bits: 4)
        let result = try OCS.quantize(weights: w, outputChannels: 6, inputChannels: 1, kernelSize: 9, groups: 6,
                                      extraFraction: 0.5, grid: grid)
        XCTAssertFalse(result.applied)
        XCTAssertEqual(result.split.splits, 0)
        XCTAssertEqual(result.averageWeightBits, 4)
        let rtn = try WeightQuantizer.quantize(weights: w, channels: 6, dimension: 9, grid: grid, method: .rtn)
        XCTAssertEqual(result.quantized, rtn)
        XCTAssertEqual(result.foldedWeights, rtn.reconstructed())
        XCTAssertThrowsError(try OCS.quantize(weights: w, outputChannels: 6, inputChannels: 1, kernelSize: 9,
                                              groups: 6, extraFraction: 0, grid: grid, method: .multipoint(points: 2)))
    }
}
