import Foundation
@testable import Quantization
import XCTest

/// AdaRound against a PyTorch autograd reference (Scripts/gen_adaround_fixture.py) and against nearest rounding on
/// random correlated layers; multipoint-adaround and the random-allocation ablation.
final class AdaRoundTests: XCTestCase {
    private struct Reference: Decodable {
        let bits, channels, dimension, samples, iterations: Int
        let learning_rate, lambda, beta_start, beta_end, warmup: Double
        let x, w, scales, h: [Double]
        let codes: [Int]
        let error_learned, error_nearest: Double
    }

    /// Equal to the reference on its fixed case (6 channels, d 12, 96 correlated samples, 4 bits, 400 steps):
    /// every code equal (so the output error is the reference's), every final `h(V)` within 0.01. Float64 both
    /// sides; the reference differentiates with autograd on the samples X, mpq by hand on the Gram matrix XᵀX —
    /// the two gradients agree to 1e-17 (checked separately), but at the start `W̃ = W` exactly, so the first
    /// gradients are round-off that Adam scales to full steps, and last-bit differences between the two matrix
    /// products move `V` early; the rounding they converge to is the same.
    func testMatchesTorchReference() throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let r = try JSONDecoder().decode(Reference.self,
                                         from: Data(contentsOf: dir.appendingPathComponent("adaround_reference.json")))
        let gram = try GramMatrix.of(samples: r.x.map { Float($0) }, rows: r.samples, dimension: r.dimension)
        let options = AdaRoundOptions(iterations: r.iterations, learningRate: r.learning_rate,
                                      regularization: r.lambda, betaStart: r.beta_start, betaEnd: r.beta_end,
                                      warmup: r.warmup)
        let grid = try QuantGrid(bits: r.bits)
        let (codes, h) = AdaRound.optimize(targets: r.w, scales: r.scales, count: r.channels, gram: gram,
                                           rows: Double(r.samples), maxLevel: grid.maxLevel, options: options)
        XCTAssertEqual(codes.map(Int.init), r.codes)
        for (a, b) in zip(h, r.h) { XCTAssertEqual(a, b, accuracy: 0.01) }
        XCTAssertLessThan(r.error_learned, r.error_nearest, "the fixture's case is one where learning helps")
    }

    /// A random layer whose inputs are strongly correlated (X = Z A): AdaRound's output error is well below
    /// nearest rounding's (RTN: same min-max scales) at 3 and 4 bits, channel by channel never above it.
    func testBeatsNearestRoundingOnCorrelatedLayers() throws {
        for (bits, seed) in [(3, UInt64(1)), (4, UInt64(2))] {
            let (layer, rows) = try correlatedLayer(channels: 24, dimension: 36, samples: 400, seed: seed)
            let grid = try QuantGrid(bits: bits)
            let learned = try AdaRound.quantize(layer: layer, grid: grid, rows: rows,
                                                options: AdaRoundOptions(iterations: 400), threads: 2)
            let rtn = try WeightQuantizer.quantize(weights: layer.weights, channels: 24, dimension: 36, grid: grid,
                                                   method: .rtn)
            let nearest = AdaRound.errors(layer, codes: rtn.codes, scales: rtn.scales, threads: 1)
            for c in 0..<24 { XCTAssertLessThanOrEqual(learned.channelErrors[c], nearest[c] * (1 + 1e-12)) }
            let a = learned.channelErrors.reduce(0, +), b = nearest.reduce(0, +)
            XCTAssertLessThan(a, 0.8 * b, "\(bits) bits: adaround \(a) vs nearest \(b)")
            XCTAssertEqual(learned.weights.scales, rtn.scales, "AdaRound keeps RTN's scales")
            // The errors reported are the errors of the codes stored.
            XCTAssertEqual(OutputError.relative(layer, learned.weights, threads: 1), learned.relativeOutputError,
                           accuracy: 1e-9)
        }
    }

    /// multipoint-adaround: the same points per channel (bits) as multipoint, and a lower output error.
    func testMultipointAdaroundLowersErrorAtEqualBits() throws {
        let (layer, rows) = try correlatedLayer(channels: 16, dimension: 27, samples: 300, seed: 5)
        let grid = try QuantGrid(bits: 3)
        let base = try MultipointAllocator.allocate([layer], options: AllocationOptions(grid: grid,
                                                                                         budget: .averageBits(3.5)))
        let refined = AdaRound.refineLastPoints(base.layers[0], layer: layer, rows: rows,
                                                options: AdaRoundOptions(iterations: 300), threads: 2)
        XCTAssertEqual(refined.weights.pointCounts, base.layers[0].weights.pointCounts)
        XCTAssertGreaterThan(base.layers[0].weights.pointCounts.max() ?? 1, 1)
        XCTAssertLessThan(refined.relativeOutputError, 0.95 * base.layers[0].relativeOutputError)
        XCTAssertEqual(OutputError.relative(layer, refined.weights, threads: 1), refined.relativeOutputError,
                       accuracy: 1e-9)
    }

    /// Random allocation: per layer exactly the adaptive allocation's points (so the same bits), on other channels;
    /// seeded (same seed, same result); and a higher model output error than the adaptive choice.
    func testRandomAllocationSpendsTheSameBitsWorse() throws {
        var layers: [AllocationLayer] = []
        for (i, spread) in [0.2, 1.0, 3.0].enumerated() {
            var (layer, _) = try correlatedLayer(channels: 32, dimension: 18, samples: 200, seed: UInt64(20 + i))
            // Heterogeneous channels: a few with large outliers (where extra points pay most).
            var w = layer.weights
            for c in stride(from: 0, to: 32, by: 5) { w[c * 18] *= Float(8 * spread) }
            layer = try AllocationLayer(name: "l\(i)", weights: w, channels: 32, dimension: 18, grams: layer.grams)
            layers.append(layer)
        }
        let options = AllocationOptions(grid: try QuantGrid(bits: 3), budget: .averageBits(3.6), threads: 2)
        let adaptive = try MultipointAllocator.allocate(layers, options: options)
        let random = try RandomAllocation.allocate(layers, options: options, seed: 9)
        let again = try RandomAllocation.allocate(layers, options: options, seed: 9)
        let other = try RandomAllocation.allocate(layers, options: options, seed: 10)
        for (a, r) in zip(adaptive.layers, random.layers) {
            XCTAssertEqual(a.weights.pointCounts.reduce(0, +), r.weights.pointCounts.reduce(0, +), a.name)
        }
        XCTAssertEqual(random.layers.map(\.weights), again.layers.map(\.weights))
        XCTAssertNotEqual(random.layers.map(\.weights.pointCounts), other.layers.map(\.weights.pointCounts))
        XCTAssertNotEqual(random.layers.map(\.weights.pointCounts), adaptive.layers.map(\.weights.pointCounts))
        let errA = adaptive.layers.map(\.relativeOutputError).reduce(0, +)
        let errR = random.layers.map(\.relativeOutputError).reduce(0, +)
        XCTAssertLessThan(errA, 0.8 * errR, "adaptive \(errA) vs random \(errR)")
        for r in random.layers {
            XCTAssertEqual(OutputError.relative(layers.first { $0.name == r.name }!, r.weights, threads: 1),
                           r.relativeOutputError, accuracy: 1e-9)
        }
    }

    /// A point refitted to scale 0 (the allocator's repair when a point cannot lower the output error; random
    /// allocation keeps such points) stores zero codes — the quantized file refuses a zero scale with nonzero
    /// codes — and leaves the residual the earlier points left, hand-checked on a 4-weight channel.
    func testPointRefittedToZeroStoresNoCodes() throws {
        let grid = try QuantGrid(bits: 3)
        var p = ChannelPoints(weights: [Float(0.9), -0.35, 0.2, 0.05])
        let workspace = GreedyWorkspace(dimension: 4, grid: grid)
        p.addPoint(using: workspace)
        let afterFirst = p.residual
        // First point: a = 0.9/3 = 0.3, q = round(w/a) = [3, -1, 1, 0]; residual w - a·q.
        XCTAssertEqual(Array(p.codes), [3, -1, 1, 0])
        for (r, e) in zip(afterFirst, [0.0, -0.05, -0.1, 0.05]) { XCTAssertEqual(r, e, accuracy: 1e-7) }
        p.addPoint(using: workspace)
        XCTAssertTrue(p.codes[4...].contains { $0 != 0 }, "the greedy second point has codes")
        p.refitLastPoint(scale: 0, negate: false)
        XCTAssertEqual(p.scales.count, 2)
        XCTAssertEqual(p.scales[1], 0)
        XCTAssertEqual(Array(p.codes[4...]), [0, 0, 0, 0])
        for (r, e) in zip(p.residual, afterFirst) { XCTAssertEqual(r, e, accuracy: 1e-12) }
    }

    /// A layer `W [C, d]` (Gaussian) with the Gram matrix of correlated inputs `X = Z A` (`A = I + 0.6·G`), and N.
    private func correlatedLayer(channels: Int, dimension d: Int, samples n: Int,
                                 seed: UInt64) throws -> (AllocationLayer, Double) {
        var rng = SeededRNG(seed: seed)
        let a = (0..<(d * d)).map { i in (i / d == i % d ? 1 : 0) + 0.6 * rng.gaussian() }
        let z = (0..<(n * d)).map { _ in rng.gaussian() }
        var x = [Float](repeating: 0, count: n * d)
        for r in 0..<n {
            for j in 0..<d {
                var s = 0.0
                for k in 0..<d { s += z[r * d + k] * a[k * d + j] }
                x[r * d + j] = Float(s)
            }
        }
        let gram = try GramMatrix.of(samples: x, rows: n, dimension: d)
        let w = rng.gaussianFloats(channels * d, scale: 0.2)
        return (try AllocationLayer(name: "layer", weights: w, channels: channels, dimension: d, grams: [gram]),
                Double(n))
    }
}
