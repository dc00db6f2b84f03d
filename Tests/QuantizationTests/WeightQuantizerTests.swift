import XCTest
import Quantization

final class WeightQuantizerTests: XCTestCase {
    /// Per-channel ||w_c - Σ_i a_i q_i||² with the code summed in Double (the exact value of the stored
    /// code; `reconstructed()` rounds ŵ to Float, which would hide errors below ~1e-7 relative).
    private func channelErrors(_ w: [Float], _ q: QuantizedWeights) -> [Double] {
        let offsets = q.rowOffsets, d = q.dimension
        return (0..<q.channels).map { c in
            var sum = 0.0
            for j in 0..<d {
                var wHat = 0.0
                for i in 0..<q.pointCounts[c] {
                    wHat += Double(q.scales[offsets[c] + i]) * Double(q.codes[(offsets[c] + i) * d + j])
                }
                let e = Double(w[c * d + j]) - wHat
                sum += e * e
            }
            return sum
        }
    }

    /// Hand-computed RTN, b = 3 (M = 3): w = (0.5, -1.4, 0.2), s = 1.4/3 = 0.46667,
    /// w/s = (1.071, -3, 0.429) → q = (1, -3, 0).
    func testRoundToNearestHandComputed() throws {
        let q = try WeightQuantizer.quantize(weights: [0.5, -1.4, 0.2], channels: 1, dimension: 3,
                                             grid: try QuantGrid(bits: 3), method: .rtn, threads: 1)
        XCTAssertEqual(q.scales[0], Float(1.4 / 3), accuracy: 1e-7)
        XCTAssertEqual(q.codes, [1, -3, 0])
        XCTAssertEqual(q.pointCounts, [1])
    }

    /// Property: for many seeds, the MSE-clipping error never exceeds RTN's, the MSE scale beats every scale of
    /// a dense scan (an independent oracle), multipoint's one point is RTN's (or MSE's with `first: .mse`)
    /// exactly, and the residual never grows with more points.
    func testOnePointBeatsRTNAndResidualNeverIncreases() throws {
        var rng = SeededRNG(seed: 42)
        for seed in 0..<28 {
            let grid = try QuantGrid(bits: 2 + seed % 7)
            let d = 1 + Int.random(in: 0..<24, using: &rng)
            let heavy = seed % 3 == 0
            let w = (0..<(3 * d)).map { _ in Float(rng.gaussian() * (heavy && Bool.random(using: &rng) ? 10 : 1)) }
            let rtn = try WeightQuantizer.quantize(weights: w, channels: 3, dimension: d, grid: grid, method: .rtn)
            let mse = try WeightQuantizer.quantize(weights: w, channels: 3, dimension: d, grid: grid, method: .mse)
            let rtnErrors = channelErrors(w, rtn), mseErrors = channelErrors(w, mse)
            for c in 0..<3 {
                let channel = Array(w[c * d..<(c + 1) * d])
                // Slack: the exact optimum's scale is stored as fp32 (relative error ≤ 6e-8 on a → ≤ ~1e-14 on
                // the squared error relative to ||w||²).
                let slack = 1e-12 * channel.reduce(0.0) { $0 + Double($1) * Double($1) }
                XCTAssertLessThanOrEqual(mseErrors[c], rtnErrors[c] + slack, "seed \(seed) channel \(c)")
                XCTAssertLessThanOrEqual(mseErrors[c], denseScanBest(channel, grid: grid) + slack)
            }
            // Both first-point rules: one point is exactly `rtn` (minmax) or `mse`, then the residual never grows.
            for (first, start) in [(MultipointFirstPoint.minMax, rtn), (.mse, mse)] {
                let one = try WeightQuantizer.quantize(weights: w, channels: 3, dimension: d, grid: grid,
                                                       method: .multipoint(points: 1, first: first))
                XCTAssertEqual(one, start, "seed \(seed) \(first)")
                var previous = channelErrors(w, one)
                for n in 2...4 {
                    let multi = try WeightQuantizer.quantize(weights: w, channels: 3, dimension: d, grid: grid,
                                                             method: .multipoint(points: n, first: first))
                    let errors = channelErrors(w, multi)
                    for c in 0..<3 {
                        XCTAssertLessThanOrEqual(errors[c], previous[c] * (1 + 1e-6) + 1e-20, "seed \(seed) n \(n)")
                    }
                    previous = errors
                }
            }
        }
    }

    /// min over 1500 scales s ∈ (0, 2·max|w|] of ||w - s·clip(round(w/s))||².
    private func denseScanBest(_ w: [Float], grid: QuantGrid) -> Double {
        let top = Double(w.map { abs($0) }.max() ?? 0)
        var best = w.reduce(0.0) { $0 + Double($1) * Double($1) }
        for i in 1...1500 {
            let s = 2 * top * Double(i) / 1500
            var e = 0.0
            for v in w { let x = Double(v) - s * Double(grid.code(Double(v) / s)); e += x * x }
            best = Swift.min(best, e)
        }
        return best
    }

    /// Enough points drive the error to ~0: each exact step removes at least max_j r_j², so the residual
    /// shrinks geometrically; 8 points at 4 bits reach Float resolution.
    func testEnoughPointsDriveErrorToZero() throws {
        var rng = SeededRNG(seed: 7)
        let d = 64
        let w = rng.gaussianFloats(4 * d)
        let q = try WeightQuantizer.quantize(weights: w, channels: 4, dimension: d, grid: try QuantGrid(bits: 4),
                                             method: .multipoint(points: 8))
        let errors = channelErrors(w, q)
        for c in 0..<4 {
            let energy = (0..<d).reduce(0.0) { $0 + Double(w[c * d + $1]) * Double(w[c * d + $1]) }
            XCTAssertLessThan(errors[c] / energy, 1e-12, "channel \(c)")
        }
    }

    func testResultsDoNotDependOnThreadCount() throws {
        var rng = SeededRNG(seed: 3)
        let w = rng.gaussianFloats(300 * 37)
        let grid = try QuantGrid(bits: 4)
        let one = try WeightQuantizer.quantize(weights: w, channels: 300, dimension: 37, grid: grid,
                                               method: .multipoint(points: 3), threads: 1)
        let many = try WeightQuantizer.quantize(weights: w, channels: 300, dimension: 37, grid: grid,
                                                method: .multipoint(points: 3), threads: 4)
        XCTAssertEqual(one, many)
    }

    func testAllZeroChannelAndBadInput() throws {
        let grid = try QuantGrid(bits: 4)
        let q = try WeightQuantizer.quantize(weights: [0, 0, 1, 2], channels: 2, dimension: 2, grid: grid,
                                             method: .multipoint(points: 2))
        XCTAssertEqual(q.reconstructed(), [0, 0, 1, 2])
        XCTAssertThrowsError(try WeightQuantizer.quantize(weights: [1, 2, 3], channels: 2, dimension: 2,
                                                          grid: grid, method: .rtn))
        XCTAssertThrowsError(try WeightQuantizer.quantize(weights: [1, .nan], channels: 1, dimension: 2,
                                                          grid: grid, method: .mse)) { error in
            XCTAssertEqual(error as? QuantizationError, .nonFiniteWeights(channel: 0))
        }
    }

    /// The common-operands execution (Σn_c integer rows, scaled, summed per channel) equals X·Ŵᵀ with the
    /// fake-quant weights, to 1e-5 relative.
    func testCommonOperandsMatchFakeQuant() throws {
        var rng = SeededRNG(seed: 11)
        let channels = 7, d = 45, samples = 9
        let w = rng.gaussianFloats(channels * d)
        var q = try WeightQuantizer.quantize(weights: w, channels: channels, dimension: d,
                                             grid: try QuantGrid(bits: 4), method: .multipoint(points: 3))
        // Uneven point counts, as the allocation produces: drop trailing points of some channels.
        q = truncated(q, to: (0..<channels).map { 1 + $0 % 3 })
        let ops = q.expandedCommonOperands()
        XCTAssertEqual(ops.rows, 1 + 2 + 3 + 1 + 2 + 3 + 1)
        XCTAssertEqual(ops.channelOfRow, [0, 1, 1, 2, 2, 2, 3, 4, 4, 5, 5, 5, 6])
        let x = rng.gaussianFloats(samples * d)
        let expanded = ops.apply(x, samples: samples)
        let wHat = q.reconstructed()
        var maxDelta: Float = 0, maxY: Float = 0
        for s in 0..<samples {
            for c in 0..<channels {
                var y: Float = 0
                for j in 0..<d { y += x[s * d + j] * wHat[c * d + j] }
                maxDelta = Swift.max(maxDelta, abs(y - expanded[s * channels + c]))
                maxY = Swift.max(maxY, abs(y))
            }
        }
        XCTAssertGreaterThan(maxY, 1)
        XCTAssertLessThanOrEqual(maxDelta, 1e-5 * maxY)
    }

    private func truncated(_ q: QuantizedWeights, to counts: [Int]) -> QuantizedWeights {
        var scales: [Float] = [], codes: [Int8] = []
        let offsets = q.rowOffsets
        for c in 0..<q.channels {
            for i in 0..<counts[c] {
                scales.append(q.scales[offsets[c] + i])
                codes += q.codes[(offsets[c] + i) * q.dimension..<(offsets[c] + i + 1) * q.dimension]
            }
        }
        return QuantizedWeights(channels: q.channels, dimension: q.dimension, grid: q.grid,
                                pointCounts: counts, scales: scales, codes: codes)
    }
}
