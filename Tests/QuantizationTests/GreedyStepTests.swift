import XCTest
import Quantization

/// The exact greedy step against an exhaustive oracle: every q ∈ G_b^d with its closed-form best scale
/// a = <r,q>/<q,q> (only a > 0 is allowed; q = 0 gives ||r||²).
final class GreedyStepTests: XCTestCase {
    /// min over all q of ||r - a(q) q||², enumerating G_b^d as base-(2M+1) digits.
    private func bruteForce(_ r: [Double], grid: QuantGrid) -> Double {
        let m = grid.maxLevel, base = 2 * m + 1, d = r.count
        var total = 1
        for _ in 0..<d { total *= base }
        let rr = squaredNorm(r)
        var best = rr
        var q = [Int](repeating: 0, count: d)
        for index in 0..<total {
            var x = index
            for j in 0..<d { q[j] = x % base - m; x /= base }
            var rq = 0.0, qq = 0.0
            for j in 0..<d { rq += r[j] * Double(q[j]); qq += Double(q[j] * q[j]) }
            if qq > 0 && rq > 0 { best = Swift.min(best, rr - rq * rq / qq) }
        }
        return best
    }

    /// Largest d ≤ 4 whose enumeration stays under ~60k vectors (debug-build friendly).
    private func dimensions(for grid: QuantGrid) -> ClosedRange<Int> {
        let base = 2 * grid.maxLevel + 1
        var d = 1, size = base
        while d < 4 && size * base <= 60_000 { d += 1; size *= base }
        return 1...d
    }

    private func check(_ r: [Double], grid: QuantGrid, file: StaticString = #filePath, line: UInt = #line) {
        let (a, q) = GreedyStep.solve(r, grid: grid)
        XCTAssertEqual(q.count, r.count, file: file, line: line)
        XCTAssertTrue(q.allSatisfy { abs(Int($0)) <= grid.maxLevel }, "codes outside \(grid)", file: file, line: line)
        let oracle = bruteForce(r, grid: grid)
        let got = squaredError(r, scale: a, codes: q)
        let tolerance = 1e-12 * Swift.max(squaredNorm(r), 1e-300)
        XCTAssertEqual(got, oracle, accuracy: tolerance, "b=\(grid.bits) r=\(r)", file: file, line: line)
        if squaredNorm(r) > 0 { XCTAssertGreaterThan(a, 0, file: file, line: line) }
    }

    func testRandomVectorsMatchBruteForceForEveryBitWidth() throws {
        var rng = SeededRNG(seed: 6)
        for bits in 2...8 {
            let grid = try QuantGrid(bits: bits)
            for d in dimensions(for: grid) {
                let trials = d == 1 ? 20 : (bits <= 3 ? 12 : 3)
                for _ in 0..<trials {
                    // Heavy-tailed mixes make clipping optimal in some trials and not in others.
                    let r = (0..<d).map { _ in rng.gaussian() * (Bool.random(using: &rng) ? 1 : 8) }
                    check(r, grid: grid)
                }
            }
        }
    }

    func testTiesZerosAndGridVectors() throws {
        for bits in 2...8 {
            let grid = try QuantGrid(bits: bits)
            let dims = dimensions(for: grid)
            check([0.7], grid: grid)
            check([-3], grid: grid)
            if dims.upperBound >= 2 {
                check([1, -1], grid: grid)                 // equal magnitudes: tied breakpoints
                check([1.5, 0.5], grid: grid)              // breakpoints of different coordinates coincide
                check([0, 2.25], grid: grid)               // a zero coordinate
            }
            if dims.upperBound >= 3 {
                check([3, -1, 2], grid: grid)              // on the integer grid for b ≥ 3: error 0
                check([1e-9, 5, -5], grid: grid)
            }
        }
    }

    func testZeroResidualGivesZeroPoint() throws {
        let (a, q) = GreedyStep.solve([0, 0, 0], grid: try QuantGrid(bits: 4))
        XCTAssertEqual(a, 0)
        XCTAssertEqual(q, [0, 0, 0])
        let empty = GreedyStep.solve([], grid: try QuantGrid(bits: 4))
        XCTAssertEqual(empty.scale, 0)
    }

    /// Hand-computed: r = (1, 0.34), b = 2 (codes {-1,0,1}). q = (1,0): a = 1, error 0.34² = 0.1156;
    /// q = (1,1): a = 0.67, error 2·0.33² = 0.2178. So the optimum is a = 1, q = (1, 0).
    func testHandComputedTernaryCase() throws {
        let (a, q) = GreedyStep.solve([1, 0.34], grid: try QuantGrid(bits: 2))
        XCTAssertEqual(a, 1, accuracy: 1e-15)
        XCTAssertEqual(q, [1, 0])
    }

    func testUnsupportedBitsAreRejected() {
        XCTAssertThrowsError(try QuantGrid(bits: 1))
        XCTAssertThrowsError(try QuantGrid(bits: 9))
        XCTAssertEqual(try QuantGrid(bits: 4).maxLevel, 7)
        XCTAssertEqual(try QuantGrid(bits: 8).maxLevel, 127)
        XCTAssertEqual(try QuantGrid(bits: 2).maxLevel, 1)
    }
}
