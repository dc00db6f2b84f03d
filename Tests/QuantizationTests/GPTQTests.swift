import Foundation
import XCTest
@testable import Quantization

final class GPTQTests: XCTestCase {
    private struct Fixture: Decodable {
        struct Case: Decodable {
            let name: String
            let channels, dimension, rows, bits: Int
            let act_order: Bool
            let block_size: Int
            let weights, inputs, scales, reconstructed: [Double]
            let codes: [Int]
            let output_error, rtn_output_error: Double
        }
        let cases: [Case]
    }

    private func loadFixture() throws -> Fixture {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let data = try Data(contentsOf: dir.appendingPathComponent("gptq_reference.json"))
        return try JSONDecoder().decode(Fixture.self, from: data)
    }

    /// `tr((W - Ŵ) H (W - Ŵ)ᵀ)` with `ŵ_c = Σ_i a_i q_i` summed in Double (any number of points).
    private func outputError(_ w: [Float], _ q: QuantizedWeights, _ h: GramMatrix) -> Double {
        let d = q.dimension, offsets = q.rowOffsets
        var total = 0.0
        for c in 0..<q.channels {
            var delta = (0..<d).map { Double(w[c * d + $0]) }
            for i in 0..<q.pointCounts[c] {
                let row = offsets[c] + i
                for j in 0..<d { delta[j] -= Double(q.scales[row]) * Double(q.codes[row * d + j]) }
            }
            for i in 0..<d { for j in 0..<d { total += delta[i] * h.values[i * d + j] * delta[j] } }
        }
        return total
    }

    /// GPTQ equals the numpy reference of `Scripts/gen_gptq_fixture.py` (in order / act-order, one block /
    /// lazy blocks of 4-5 columns, a dead input, b = 2, 3, 4): identical integer codes and scales, Ŵ within 1e-5,
    /// and the same output error.
    func testMatchesNumpyReference() throws {
        for item in try loadFixture().cases {
            let x = item.inputs.map { Float($0) }
            let gram = try GramMatrix.of(samples: x, rows: item.rows, dimension: item.dimension)
            let options = GPTQOptions(grid: try QuantGrid(bits: item.bits), scaleRule: .minMax,
                                      blockSize: item.block_size, actOrder: item.act_order, threads: 1)
            let w = item.weights.map { Float($0) }
            let result = try GPTQ.quantize(weights: w, channels: item.channels, dimension: item.dimension,
                                           gram: gram, options: options)
            XCTAssertEqual(result.weights.codes.map { Int($0) }, item.codes, item.name)
            XCTAssertEqual(result.weights.scales, item.scales.map { Float($0) }, item.name)
            let wHat = result.weights.reconstructed()
            for (a, b) in zip(wHat, item.reconstructed) {
                XCTAssertEqual(Double(a), b, accuracy: 1e-5, item.name)
            }
            let total = result.channelErrors.reduce(0, +)
            XCTAssertEqual(total, item.output_error, accuracy: 1e-9 * item.output_error, item.name)
            XCTAssertEqual(outputError(w, result.weights, gram), item.output_error,
                           accuracy: 1e-9 * item.output_error, item.name)
        }
    }

    /// GPTQ is a heuristic, not a guaranteed improvement on every layer: with few calibration rows it can lose
    /// to RTN on some layers (the numpy reference loses on 17 of 1200 random 8 × 16 layers with 64 rows), and
    /// with nearly white inputs (`H ≈ N·I`) it is about RTN. Its gain comes from correlated inputs, which is what
    /// conv im2col rows are. So the tested claim: over 48 seeded layers (C = 8, d = 16, inputs `Z (I + 0.5 G)`
    /// with 64 or 256 rows, b = 2, 3, 4, in order and act-order) GPTQ's output error `tr((W-Ŵ) H (W-Ŵ)ᵀ)` is at
    /// most RTN's in ≥ 90% of the layers and its total is ≤ 75% of RTN's total.
    func testOutputErrorBelowRTNOnRandomLayers() throws {
        var rng = SeededRNG(seed: 7)
        var wins = 0, cases = 0
        var gptqTotal = 0.0, rtnTotal = 0.0
        for seed in 0..<48 {
            let c = 8, d = 16, rows = seed % 4 < 2 ? 64 : 256
            let w = rng.gaussianFloats(c * d)
            let z = rng.gaussianFloats(rows * d)
            let mix = (0..<(d * d)).map { Float(0.5 * rng.gaussian()) + ($0 / d == $0 % d ? 1 : 0) }
            var x = [Float](repeating: 0, count: rows * d)
            for r in 0..<rows { for j in 0..<d { for k in 0..<d { x[r * d + j] += z[r * d + k] * mix[k * d + j] } } }
            let gram = try GramMatrix.of(samples: x, rows: rows, dimension: d)
            let grid = try QuantGrid(bits: 2 + seed % 3)
            let gptq = try GPTQ.quantize(weights: w, channels: c, dimension: d, gram: gram, options: GPTQOptions(
                grid: grid, scaleRule: .minMax, actOrder: seed % 2 == 1, threads: 1))
            let rtn = try WeightQuantizer.quantize(weights: w, channels: c, dimension: d, grid: grid, method: .rtn)
            let eG = outputError(w, gptq.weights, gram), eR = outputError(w, rtn, gram)
            wins += eG <= eR ? 1 : 0
            cases += 1
            gptqTotal += eG
            rtnTotal += eR
        }
        print("GPTQ vs RTN on 48 correlated random layers: won \(wins), total error ratio \(gptqTotal / rtnTotal)")
        XCTAssertGreaterThanOrEqual(Double(wins) / Double(cases), 0.9, "GPTQ won \(wins) of \(cases)")
        XCTAssertLessThanOrEqual(gptqTotal, 0.75 * rtnTotal)
    }

    /// The fast Cholesky path: `Uᵀ U = H⁻¹` ⇔ `U H Uᵀ = I`, on a 300 × 300 matrix (five 64-blocks, several
    /// 128-row chunks, two recursion levels of the triangular inverse); 1 and 3 threads give identical bits.
    func testUpperFactorOfInverse() throws {
        var rng = SeededRNG(seed: 3)
        let n = 300, rows = 700
        let gram = try GramMatrix.of(samples: rng.gaussianFloats(rows * n), rows: rows, dimension: n)
        let u = try XCTUnwrap(Cholesky.upperFactorOfInverse(gram.values, dimension: n, threads: 1))
        XCTAssertEqual(Cholesky.upperFactorOfInverse(gram.values, dimension: n, threads: 3), u)
        var uh = [Double](repeating: 0, count: n * n)   // U H
        for i in 0..<n {
            for k in i..<n { for j in 0..<n { uh[i * n + j] += u[i * n + k] * gram.values[k * n + j] } }
        }
        var maxError = 0.0
        for i in 0..<n {
            XCTAssertGreaterThan(u[i * n + i], 0)
            for j in 0..<i { XCTAssertEqual(u[i * n + j], 0) }
            for j in 0..<n {
                var s = 0.0   // (U H Uᵀ)_ij
                for l in j..<n { s += uh[i * n + l] * u[j * n + l] }
                maxError = Swift.max(maxError, Swift.abs(s - (i == j ? 1 : 0)))
            }
        }
        XCTAssertLessThan(maxError, 1e-9)
        XCTAssertNil(Cholesky.upperFactorOfInverse([1, 2, 2, 1], dimension: 2))   // eigenvalues 3, -1
    }

    /// Grouped layers run each group with its own H; identical for 1 and 4 threads; scales follow the rule.
    func testGroupsScaleRuleAndDeterminism() throws {
        var rng = SeededRNG(seed: 11)
        let c = 6, d = 9, groups = 3, rows = 50
        let w = rng.gaussianFloats(c * d)
        let grams = try (0..<groups).map { _ in
            try GramMatrix.of(samples: rng.gaussianFloats(rows * d), rows: rows, dimension: d)
        }
        let layer = try AllocationLayer(name: "dw", weights: w, channels: c, dimension: d, grams: grams)
        let grid = try QuantGrid(bits: 4)
        for rule in GPTQScaleRule.allCases {
            let one = try GPTQ.quantize(layer: layer, options: GPTQOptions(grid: grid, scaleRule: rule, threads: 1))
            let four = try GPTQ.quantize(layer: layer, options: GPTQOptions(grid: grid, scaleRule: rule, threads: 4))
            XCTAssertEqual(one.weights, four.weights)
            let reference = try WeightQuantizer.quantize(weights: w, channels: c, dimension: d, grid: grid,
                                                         method: rule == .minMax ? .rtn : .mse)
            XCTAssertEqual(one.weights.scales, reference.scales)
            for g in 0..<groups {
                let rowsOfGroup = Array(w[(2 * g) * d..<(2 * g + 2) * d])
                let alone = try GPTQ.quantize(weights: rowsOfGroup, channels: 2, dimension: d, gram: grams[g],
                                              options: GPTQOptions(grid: grid, scaleRule: rule, threads: 1))
                XCTAssertEqual(Array(one.weights.codes[(2 * g) * d..<(2 * g + 2) * d]), alone.weights.codes)
                XCTAssertEqual(Array(one.channelErrors[(2 * g)..<(2 * g + 2)]), alone.channelErrors)
            }
        }
        XCTAssertThrowsError(try GPTQ.quantize(layer: layer, options: GPTQOptions(grid: grid, blockSize: 0)))
    }

    /// Seeded correlated inputs `X = Z (I + 0.5 G)`, `[rows, d]`.
    private func correlatedInputs(rows: Int, d: Int, rng: inout SeededRNG) -> [Float] {
        let z = rng.gaussianFloats(rows * d)
        let mix = (0..<(d * d)).map { Float(0.5 * rng.gaussian()) + ($0 / d == $0 % d ? 1 : 0) }
        var x = [Float](repeating: 0, count: rows * d)
        for r in 0..<rows { for j in 0..<d { for k in 0..<d { x[r * d + j] += z[r * d + k] * mix[k * d + j] } } }
        return x
    }

    /// Rows are swept in parallel blocks of 16: 40 channels (3 blocks), 1 vs 3 threads, identical results for
    /// GPTQ and for `refine` of 2-point multipoint.
    func testIdenticalForAnyThreadCount() throws {
        var rng = SeededRNG(seed: 8)
        let c = 40, d = 20, rows = 80
        let w = rng.gaussianFloats(c * d)
        let layer = try AllocationLayer(name: "l", weights: w, channels: c, dimension: d, grams: [
            GramMatrix.of(samples: correlatedInputs(rows: rows, d: d, rng: &rng), rows: rows, dimension: d)])
        let grid = try QuantGrid(bits: 4)
        let points = try WeightQuantizer.quantize(weights: w, channels: c, dimension: d, grid: grid,
                                                  method: .multipoint(points: 2))
        let options = GPTQOptions(grid: grid, blockSize: 6, threads: 3)
        let single = GPTQOptions(grid: grid, blockSize: 6, threads: 1)
        XCTAssertEqual(try GPTQ.quantize(layer: layer, options: options).weights,
                       try GPTQ.quantize(layer: layer, options: single).weights)
        let a = try GPTQ.refine(layer: layer, points: points, options: options)
        let b = try GPTQ.refine(layer: layer, points: points, options: single)
        XCTAssertEqual(a.weights, b.weights)
        XCTAssertEqual(a.channelErrors, b.channelErrors)
    }

    /// `refine` with one min-max point per channel is plain GPTQ (same codes and errors).
    func testRefineOfOnePointIsGPTQ() throws {
        var rng = SeededRNG(seed: 21)
        let c = 8, d = 24, rows = 96
        let w = rng.gaussianFloats(c * d)
        let layer = try AllocationLayer(name: "l", weights: w, channels: c, dimension: d, grams: [
            GramMatrix.of(samples: correlatedInputs(rows: rows, d: d, rng: &rng), rows: rows, dimension: d)])
        let grid = try QuantGrid(bits: 3)
        let options = GPTQOptions(grid: grid, scaleRule: .minMax, blockSize: 7, actOrder: true, threads: 1)
        let rtn = try WeightQuantizer.quantize(weights: w, channels: c, dimension: d, grid: grid, method: .rtn)
        let refined = try GPTQ.refine(layer: layer, points: rtn, options: options)
        let gptq = try GPTQ.quantize(layer: layer, options: options)
        XCTAssertEqual(refined.weights, gptq.weights)
        XCTAssertEqual(refined.channelErrors, gptq.channelErrors)
    }

    /// Experiment (issue 7: "multipoint combined with GPTQ-style rounding of each point"): at equal points
    /// (the same n_c and scales: 2 greedy points per channel, or the allocator's points at 4.5 average bits,
    /// 3-bit points), GPTQ rounding of the points (act-order) vs the plain greedy codes, on 24 seeded layers
    /// with correlated inputs. Measured: refined error ≤ plain on all 24 layers, total ratio 0.54 (min-max first
    /// points; 0.65 with MSE first points) (printed).
    /// Asserted: ≥ 90% of the layers improve and the total is ≤ 80% of plain multipoint's.
    func testMultipointWithGPTQRounding() throws {
        var rng = SeededRNG(seed: 99)
        var plainTotal = 0.0, refinedTotal = 0.0, wins = 0
        let grid = try QuantGrid(bits: 3)
        for seed in 0..<24 {
            let c = 8, d = 16, rows = seed % 2 == 0 ? 64 : 256
            let w = rng.gaussianFloats(c * d)
            let x = correlatedInputs(rows: rows, d: d, rng: &rng)
            let gram = try GramMatrix.of(samples: x, rows: rows, dimension: d)
            let layer = try AllocationLayer(name: "l\(seed)", weights: w, channels: c, dimension: d, grams: [gram])
            let points: QuantizedWeights
            if seed % 3 == 0 {
                points = try WeightQuantizer.quantize(weights: w, channels: c, dimension: d, grid: grid,
                                                      method: .multipoint(points: 2))
            } else {
                let allocation = try MultipointAllocator.allocate([layer], options: AllocationOptions(
                    grid: grid, budget: .averageBits(4.5), threads: 1))
                points = try XCTUnwrap(allocation.layers.first).weights
            }
            let refined = try GPTQ.refine(layer: layer, points: points,
                                          options: GPTQOptions(grid: grid, actOrder: true))
            XCTAssertEqual(refined.weights.pointCounts, points.pointCounts)
            XCTAssertEqual(refined.weights.scales, points.scales)
            let plainError = outputError(w, points, gram), refinedError = outputError(w, refined.weights, gram)
            XCTAssertEqual(refined.channelErrors.reduce(0, +), refinedError, accuracy: 1e-9 * plainError)
            plainTotal += plainError
            refinedTotal += refinedError
            wins += refinedError <= plainError ? 1 : 0
        }
        print("multipoint + GPTQ rounding vs plain multipoint: won \(wins) of 24, "
              + "total error ratio \(refinedTotal / plainTotal)")
        XCTAssertGreaterThanOrEqual(wins, 22)
        XCTAssertLessThanOrEqual(refinedTotal, 0.8 * plainTotal)
    }

    /// Opt-in timing (MPQ_HEAVY_TESTS=1): GPTQ of one VGG16-SSD-sized layer, W [512, 4608] (conv 512→512 3×3),
    /// H from 1024 random rows. Checks the result is finite and prints the time (for the README).
    func testHeavyVGGSizedLayerTiming() throws {
        guard ProcessInfo.processInfo.environment["MPQ_HEAVY_TESTS"] == "1" else {
            print("skipped testHeavyVGGSizedLayerTiming: set MPQ_HEAVY_TESTS=1 to time GPTQ on a 512 × 4608 layer")
            return
        }
        var rng = SeededRNG(seed: 1)
        let c = 512, d = 4608, rows = 1024
        let w = rng.gaussianFloats(c * d, scale: 0.02)
        let gram = try GramMatrix.of(samples: rng.gaussianFloats(rows * d), rows: rows, dimension: d)
        let layer = try AllocationLayer(name: "conv5_3", weights: w, channels: c, dimension: d, grams: [gram])
        let clock = ContinuousClock()
        var result: LayerAllocation?
        let elapsed = try clock.measure {
            result = try GPTQ.quantize(layer: layer, options: GPTQOptions(grid: QuantGrid(bits: 4)))
        }
        let errors = try XCTUnwrap(result).channelErrors
        XCTAssertTrue(errors.allSatisfy { $0.isFinite && $0 >= 0 })
        print("GPTQ 512 × 4608, 4 bits, \(defaultQuantizationThreads) threads: \(elapsed)")
    }
}
