import Foundation
import XCTest
import Quantization

final class MixedPrecisionTests: XCTestCase {
    private func layer(_ name: String, _ n: Int, channels: Int = 1, _ costs: [Int: Double]) -> MixedPrecisionLayer {
        MixedPrecisionLayer(name: name, weightCount: n, channels: channels, costs: costs)
    }

    /// Costs `u_b · base^b` for b = 2…8 with `u_b` uniform in `spread` (roughly, not strictly, decreasing).
    private func randomDecreasingCosts(base: Double, spread: Range<Double>, rng: inout SeededRNG) -> [Int: Double] {
        var costs: [Int: Double] = [:]
        for b in 2...8 { costs[b] = Double.random(in: spread, using: &rng) * pow(base, Double(b)) }
        return costs
    }

    /// Hand-counted, widths {2, 4, 8}, A: n = 10, B: n = 30, target 4.0 → budget floor(4·40) = 160 bits.
    /// Costs A (2: 10, 4: 1, 8: 0), B (2: 5, 4: 2, 8: 0). Feasible (bits, cost): (2,2) 80/15, (4,2) 100/6,
    /// (8,2) 140/5, (2,4) 140/12, (4,4) 160/3; (8,4) 200 and (·,8) ≥ 260 do not fit → (4,4), 160 bits = the
    /// budget exactly, average 4.0. With scale bits (C = 2 and 3, 32 bits each = 160) and target 8.0 the budget
    /// floor(8·40) = 320 leaves the same 160 bits for the codes → the same answer, 320 bits used.
    func testBudgetMetExactlyHandCounted() throws {
        let layers = [layer("A", 10, channels: 2, [2: 10, 4: 1, 8: 0]), layer("B", 30, channels: 3, [2: 5, 4: 2, 8: 0])]
        let options = MixedPrecisionOptions(candidateBits: [2, 4, 8])
        let result = try MixedPrecision.allocate(layers, averageBits: 4.0, options: options)
        XCTAssertEqual(result.bits, [4, 4])
        XCTAssertEqual(result.budgetBits, 160)
        XCTAssertEqual(result.usedBits, 160)
        XCTAssertEqual(result.averageWeightBits, 4.0)
        XCTAssertEqual(result.totalCost, 3)
        XCTAssertTrue(result.exact)

        var withScales = options
        withScales.countScaleBits = true
        let scaled = try MixedPrecision.allocate(layers, averageBits: 8.0, options: withScales)
        XCTAssertEqual(scaled.bits, [4, 4])
        XCTAssertEqual(scaled.budgetBits, 320)
        XCTAssertEqual(scaled.usedBits, 320)
        XCTAssertThrowsError(try MixedPrecision.allocate(layers, averageBits: 5.9, options: withScales)) { error in
            // minimum = (2·40 + 160) / 40 = 6.0
            XCTAssertEqual(error as? QuantizationError, .budgetBelowMinimum(requested: 5.9, minimum: 6.0))
        }
    }

    /// DP beats naive uniform: A (n = 10) is very sensitive (2: 100, 4: 10, 8: 0), B (n = 30) is not
    /// (2: 1, 4: 0.5, 8: 0). Target 4 → 160 bits. Uniform 4 bits costs 10.5; the optimum is A at 8, B at 2:
    /// 80 + 60 = 140 bits, cost 1. It cannot be raised: B at 4 would need 200 > 160 (A is at the top).
    /// Average 140/40 = 3.5 ≤ 4.
    func testBeatsUniformWhenOneLayerIsSensitive() throws {
        let layers = [layer("A", 10, [2: 100, 4: 10, 8: 0]), layer("B", 30, [2: 1, 4: 0.5, 8: 0])]
        let result = try MixedPrecision.allocate(layers, averageBits: 4,
                                                 options: MixedPrecisionOptions(candidateBits: [2, 4, 8]))
        XCTAssertEqual(result.bits, [8, 2])
        XCTAssertEqual(result.usedBits, 140)
        XCTAssertEqual(result.totalCost, 1)
        XCTAssertEqual(result.averageWeightBits, 3.5)
        XCTAssertLessThan(result.totalCost, 10 + 0.5)   // uniform 4 bits
    }

    /// The DP equals a brute-force oracle (all 5⁵ assignments, monotone costs) on 40 seeded instances, stays
    /// within the budget, and leaves no layer that could be raised to its next width within the budget.
    func testMatchesBruteForceAndIsMaximal() throws {
        var rng = SeededRNG(seed: 123)
        let candidates = [2, 3, 4, 6, 8]
        for trial in 0..<40 {
            let layers = (0..<5).map { l -> MixedPrecisionLayer in
                var base = Double.random(in: 1..<10, using: &rng)
                var costs: [Int: Double] = [:]
                for b in candidates {   // roughly decreasing, sometimes noisy upwards
                    costs[b] = base
                    base *= Double.random(in: 0.2..<1.1, using: &rng)
                }
                return layer("L\(l)", Int.random(in: 1...50, using: &rng), costs)
            }
            let target = Double.random(in: 2.0..<8.5, using: &rng)
            let result = try MixedPrecision.allocate(layers, averageBits: target,
                                                     options: MixedPrecisionOptions(candidateBits: candidates))
            let envelope = layers.map { layer in
                candidates.indices.map { k in
                    candidates[0...k].map { layer.costs[$0] ?? .infinity }.min() ?? .infinity
                }
            }
            let total = layers.reduce(0) { $0 + $1.weightCount }
            let budget = Int((target * Double(total)).rounded(.down))
            var best = Double.infinity
            for code in 0..<Int(pow(5.0, 5.0)) {
                var rest = code, used = 0, cost = 0.0
                for l in 0..<5 {
                    let k = rest % 5
                    rest /= 5
                    used += layers[l].weightCount * candidates[k]
                    cost += envelope[l][k]
                }
                if used <= budget { best = Swift.min(best, cost) }
            }
            XCTAssertEqual(result.totalCost, best, accuracy: 1e-12, "trial \(trial)")
            XCTAssertEqual(result.budgetBits, budget)
            let used = zip(layers, result.bits).reduce(0) { $0 + $1.0.weightCount * $1.1 }
            XCTAssertEqual(result.usedBits, used)
            XCTAssertLessThanOrEqual(used, budget)
            XCTAssertLessThanOrEqual(result.averageWeightBits, target)
            for (l, b) in result.bits.enumerated() {
                guard let k = candidates.firstIndex(of: b), k + 1 < candidates.count else { continue }
                XCTAssertGreaterThan(used + layers[l].weightCount * (candidates[k + 1] - b), budget,
                                     "trial \(trial) layer \(l)")
            }
        }
    }

    /// Monotone behaviour: raising the target never raises the optimal cost, and the average stays ≤ target;
    /// a noisy table (3 bits better than 4) is read through its monotone envelope (4 bits costs 1, not 2).
    func testMonotoneInTheBudget() throws {
        var rng = SeededRNG(seed: 77)
        let layers = (0..<8).map { l in
            layer("L\(l)", Int.random(in: 10...400, using: &rng),
                  randomDecreasingCosts(base: 0.25, spread: 1..<2, rng: &rng))
        }
        var previous = Double.infinity
        for step in 0...24 {
            let target = 2.0 + 0.25 * Double(step)
            let result = try MixedPrecision.allocate(layers, averageBits: target)
            XCTAssertLessThanOrEqual(result.totalCost, previous)
            XCTAssertLessThanOrEqual(result.averageWeightBits, target)
            previous = result.totalCost
        }
        let noisy = [layer("N", 10, [2: 5, 3: 1, 4: 2])]
        let result = try MixedPrecision.allocate(noisy, averageBits: 4,
                                                 options: MixedPrecisionOptions(candidateBits: [2, 3, 4]))
        XCTAssertEqual(result.bits, [4])
        XCTAssertEqual(result.totalCost, 1)
    }

    /// Model-sized input (90 layers, 1e3…2e6 weights, widths 2…8) runs quickly and exactly; a tiny `maxFrontier`
    /// gives a feasible, marked-inexact answer that is no better than the exact one.
    func testModelSizedAndThinnedFrontier() throws {
        var rng = SeededRNG(seed: 31)
        let layers = (0..<90).map { l in
            layer("L\(l)", Int.random(in: 1_000...2_000_000, using: &rng),
                  randomDecreasingCosts(base: 0.3, spread: 0.5..<2, rng: &rng))
        }
        let clock = ContinuousClock()
        var exact: MixedPrecisionResult?
        let elapsed = try clock.measure { exact = try MixedPrecision.allocate(layers, averageBits: 4.25) }
        let result = try XCTUnwrap(exact)
        print("mixed precision, 90 layers, widths 2...8: \(elapsed)")
        XCTAssertTrue(result.exact)
        XCTAssertLessThanOrEqual(result.averageWeightBits, 4.25)
        let thinned = try MixedPrecision.allocate(layers, averageBits: 4.25,
                                                  options: MixedPrecisionOptions(maxFrontier: 16))
        XCTAssertFalse(thinned.exact)
        XCTAssertLessThanOrEqual(thinned.usedBits, thinned.budgetBits)
        XCTAssertGreaterThanOrEqual(thinned.totalCost, result.totalCost - 1e-12)
        XCTAssertThrowsError(try MixedPrecision.allocate([layer("A", 4, [2: 1])], averageBits: 4,
                                                         options: MixedPrecisionOptions(candidateBits: [2, 4])))
    }
}
