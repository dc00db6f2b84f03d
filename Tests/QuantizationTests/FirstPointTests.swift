import XCTest
import Quantization

/// Multipoint's first point (`MultipointFirstPoint`): the default starts every channel at RTN's min-max point,
/// so a channel's one-point output error equals RTN's under any H and more points never raise it.
final class FirstPointTests: XCTestCase {
    /// Random layers (plain, grouped, depthwise-like), heavy-tailed weights, H from correlated inputs with a
    /// few large activations; full-rank (even seeds) or rank-deficient (odd seeds).
    private func randomLayers(seed: UInt64) throws -> [AllocationLayer] {
        var rng = SeededRNG(seed: seed)
        var layers: [AllocationLayer] = []
        for (l, (c, d, g)) in [(8, 12, 1), (6, 10, 2), (6, 9, 6)].enumerated() {
            let rows = seed % 2 == 0 ? 4 * d : 3
            let grams = try (0..<g).map { _ -> GramMatrix in
                var x: [Float] = []
                for _ in 0..<rows {
                    let z = rng.gaussian() * (Double.random(in: 0..<1, using: &rng) < 0.1 ? 5 : 1)
                    for _ in 0..<d { x.append(Float(z + 0.5 * rng.gaussian())) }
                }
                return try GramMatrix.of(samples: x, rows: rows, dimension: d)
            }
            let w = (0..<(c * d)).map { _ in
                Float(rng.gaussian() * (Double.random(in: 0..<1, using: &rng) < 0.1 ? 6 : 1))
            }
            layers.append(try AllocationLayer(name: "L\(l)", weights: w, channels: c, dimension: d, grams: grams))
        }
        return layers
    }

    /// Hand-computed, b = 2, H = I, w = (1, .5, .5, .5). Min-max: s = 1, q = round(w) = (1, 1, 1, 1) (ties away
    /// from zero), e_1 = 3·0.25 = 0.75 (the MSE point would be a = 0.625, e = 0.1875). Point 2 on
    /// r = (0, -.5, -.5, -.5) is exact: a = 0.5, q = (0, -1, -1, -1), e_2 = 0.
    /// Threshold 0.05: 0.75/1.75 > 0.05 → 2 points.
    func testMinMaxFirstPointHandComputed() throws {
        let identity = try GramMatrix(dimension: 4, values: (0..<16).map { $0 / 4 == $0 % 4 ? 1 : 0 })
        let layer = try AllocationLayer(name: "B", weights: [1, 0.5, 0.5, 0.5], channels: 1, dimension: 4,
                                        grams: [identity])
        let grid = try QuantGrid(bits: 2)
        let one = try MultipointAllocator.allocate([layer], options: AllocationOptions(
            grid: grid, budget: .averageBits(2), threads: 1)).layers[0]
        XCTAssertEqual(one.weights.scales, [1])
        XCTAssertEqual(one.weights.codes, [1, 1, 1, 1])
        XCTAssertEqual(one.channelErrors[0], 0.75, accuracy: 1e-12)
        let two = try MultipointAllocator.allocate([layer], options: AllocationOptions(
            grid: grid, budget: .maxRelativeError(0.05), threads: 1)).layers[0]
        XCTAssertEqual(two.weights.pointCounts, [2])
        XCTAssertEqual(two.weights.scales, [1, 0.5])
        XCTAssertEqual(two.weights.codes, [1, 1, 1, 1, 0, -1, -1, -1])
        XCTAssertEqual(two.channelErrors[0], 0, accuracy: 1e-15)
    }

    /// Under random H, one point per channel is exactly RTN (codes, scales) with RTN's output error δᵀHδ
    /// (naive recomputation), and with a budget for more points no channel's error exceeds RTN's.
    func testOnePointOutputErrorEqualsRTNAndMorePointsNeverExceedIt() throws {
        for seed in UInt64(0)..<6 {
            let layers = try randomLayers(seed: 300 + seed)
            let grid = try QuantGrid(bits: 2 + Int(seed % 4))
            let one = try MultipointAllocator.allocate(layers, options: AllocationOptions(
                grid: grid, budget: .averageBits(Double(grid.bits)), threads: 1))
            let more = try MultipointAllocator.allocate(layers, options: AllocationOptions(
                grid: grid, budget: .averageBits(Double(grid.bits) + 1.5), threads: 1))
            for (l, layer) in layers.enumerated() {
                let d = layer.dimension
                let rtn = try WeightQuantizer.quantize(weights: layer.weights, channels: layer.channels, dimension: d,
                                                       grid: grid, method: .rtn)
                XCTAssertEqual(one.layers[l].weights, rtn, "seed \(seed) L\(l)")
                for c in 0..<layer.channels {
                    let h = layer.grams[c / (layer.channels / layer.grams.count)]
                    let delta = (0..<d).map { j in
                        Double(layer.weights[c * d + j]) - Double(rtn.scales[c]) * Double(rtn.codes[c * d + j])
                    }
                    let eRTN = quadraticForm(delta, h)
                    let slack = 1e-9 * Swift.max(layer.channelEnergy(c), 1e-12)
                    XCTAssertEqual(one.layers[l].channelErrors[c], eRTN, accuracy: slack)
                    XCTAssertLessThanOrEqual(more.layers[l].channelErrors[c], eRTN + slack, "seed \(seed) L\(l) c\(c)")
                }
            }
        }
    }

    /// Later points never raise e_c, checked point by point against oracles: for every channel and point
    /// i ≥ 2, the greedy step on the stored residual r_{i-1} (`GreedyStep.solve`) is recomputed; if it lowers
    /// δᵀHδ the stored point must be exactly it, otherwise (a "repair") the stored point must use the same codes
    /// (up to sign) and a scale that no scale of a dense scan beats (brute force), or be zero. Rank-deficient H
    /// makes repairs happen; at least one must. Reported errors equal the naive δᵀHδ of the stored code.
    func testLaterPointsNeverRaiseTheOutputError() throws {
        var repairs = 0
        let cap = 5
        for seed in UInt64(0)..<6 {
            let layers = try randomLayers(seed: 2 * seed + 1)
            let grid = try QuantGrid(bits: 2 + Int(seed % 3))
            let result = try MultipointAllocator.allocate(layers, options: AllocationOptions(
                grid: grid, budget: .maxRelativeError(1e-300), maxPointsPerChannel: cap, threads: 1))
            for (l, layer) in layers.enumerated() {
                let d = layer.dimension, q = result.layers[l].weights
                for c in 0..<layer.channels {
                    let h = layer.grams[c / (layer.channels / layer.grams.count)]
                    let offset = q.rowOffsets[c]
                    var r = (0..<d).map {
                        Double(layer.weights[c * d + $0]) - Double(q.scales[offset]) * Double(q.codes[offset * d + $0])
                    }
                    var previous = quadraticForm(r, h)
                    for i in 1..<q.pointCounts[c] {
                        let scale = Double(q.scales[offset + i])
                        let codes = Array(q.codes[(offset + i) * d..<(offset + i + 1) * d])
                        let greedy = GreedyStep.solve(r, grid: grid)
                        func e(_ a: Double, _ k: [Int8]) -> Double {
                            quadraticForm((0..<d).map { r[$0] - a * Double(k[$0]) }, h)
                        }
                        func e(_ a: Double) -> Double { e(a, codes) }
                        let eGreedy = e(Double(Float(greedy.scale)), greedy.codes)
                        let stored = e(scale)
                        let slack = 1e-9 * Swift.max(previous, 1e-12)
                        if eGreedy < previous {
                            XCTAssertEqual(codes, greedy.codes, "seed \(seed) L\(l) c\(c) point \(i + 1)")
                            XCTAssertEqual(Float(scale), Float(greedy.scale))
                        } else {
                            repairs += 1
                            XCTAssertTrue(scale == 0 || codes == greedy.codes || codes == greedy.codes.map { -$0 })
                            let top = 4 * Swift.max(Swift.abs(greedy.scale), scale)
                            for k in 0...4000 { XCTAssertGreaterThanOrEqual(e(top * Double(k) / 4000), stored - slack) }
                        }
                        XCTAssertLessThanOrEqual(stored, previous + slack, "seed \(seed) L\(l) c\(c) point \(i + 1)")
                        for j in 0..<d { r[j] -= scale * Double(codes[j]) }
                        previous = stored
                    }
                    XCTAssertEqual(result.layers[l].channelErrors[c], previous,
                                   accuracy: 1e-9 * Swift.max(layer.channelEnergy(c), 1e-12))
                }
            }
        }
        XCTAssertGreaterThan(repairs, 0, "no greedy point raised the output error: the repair is untested")
    }
}

private extension AllocationLayer {
    /// `E_c = w_cᵀ H w_c`, naively.
    func channelEnergy(_ c: Int) -> Double {
        let d = dimension
        return quadraticForm((0..<d).map { Double(weights[c * d + $0]) }, grams[c / (channels / grams.count)])
    }
}
