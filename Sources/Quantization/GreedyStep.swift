/// The exact one-point step of the multipoint quantizer.
///
/// Given a residual `r ∈ R^d` and the grid `G_b` (largest code `M = 2^(b-1) - 1`), find
///
///     (a*, q*) = argmin_{a > 0, q ∈ G_b^d} ||r - a·q||²
///
/// **exactly**. For a fixed scale `a` the best codes are `q(a) = clip(round(r / a), -M, M)` (coordinate-wise,
/// ties rounded half away from zero), so the problem is `min_a g(a)` with
///
///     g(a) = Σ_j min_{k ∈ G_b} (r_j - a·k)² = ||r||² - 2a·<r,q(a)> + a²·<q(a),q(a)>.
///
/// `|q_j(a)|` only changes at the breakpoints `a = |r_j| / (k + 1/2)`, `k = 0 … M-1`: going down in `a`
/// past such a breakpoint raises `|q_j|` from `k` to `k+1`, which adds `|r_j|` to `<r,q>` and `2k+1` to
/// `<q,q>`. Between two consecutive breakpoints `lo ≤ a ≤ hi` the codes are fixed and `g` is the convex
/// quadratic above, whose minimum on `[lo, hi]` is at `clamp(<r,q>/<q,q>, lo, hi)`. `g` is continuous, so
/// the best of these interval minima is the global minimum.
///
/// The sweep visits the breakpoints in decreasing order. Because the breakpoints of step `k` are the
/// sorted magnitudes scaled by `1/(k+1/2)`, it sorts `|r|` once (`O(d log d)`) and merges the `M` scaled
/// streams with a binary heap: `O(d·M·log M)` per step (`M = 7` for 4 bits). Equal breakpoints are
/// processed together, so every evaluated interval corresponds to a threshold `T` ("all breakpoints
/// `≥ T` passed"), from which the codes are rebuilt at the end: `|q_j| = #{k < M : |r_j|/(k+1/2) ≥ T}` — the
/// same floating-point expression as in the sweep, so the rebuilt codes are exactly the swept ones.
/// The returned scale is the refit `a = <r,q>/<q,q>` of those codes (never worse than the clamped value).
///
/// Edge cases: a zero residual returns `a = 0, q = 0` (the only case with `a = 0`); `d = 1` works as any `d`.
final class GreedyWorkspace {
    private var magnitudes: [Double]
    private var heapValue: [Double]
    private var heapStream: [Int32]
    private var heapPosition: [Int32]
    let grid: QuantGrid

    init(dimension: Int, grid: QuantGrid) {
        self.grid = grid
        magnitudes = [Double](repeating: 0, count: Swift.max(dimension, 1))
        heapValue = [Double](repeating: 0, count: grid.maxLevel)
        heapStream = [Int32](repeating: 0, count: grid.maxLevel)
        heapPosition = [Int32](repeating: 0, count: grid.maxLevel)
    }

    /// Solves one step for `residual`, writes `q*` into `codes` and returns `a*` (0 iff the residual is 0).
    func step(_ residual: UnsafeBufferPointer<Double>, codes: UnsafeMutableBufferPointer<Int8>) -> Double {
        let d = residual.count
        precondition(codes.count == d, "codes buffer must match the residual length")
        if magnitudes.count < d { magnitudes = [Double](repeating: 0, count: d) }
        let levels = grid.maxLevel
        let threshold: Double = magnitudes.withUnsafeMutableBufferPointer { mags in
            var m = 0
            for j in 0..<d {
                let v = Swift.abs(residual[j])
                if v > 0 { mags[m] = v; m += 1 }
            }
            if m == 0 { return .infinity }
            var sorted = UnsafeMutableBufferPointer(rebasing: mags[0..<m])
            sorted.sort(by: >)
            return heapValue.withUnsafeMutableBufferPointer { hv in
                heapStream.withUnsafeMutableBufferPointer { hs in
                    heapPosition.withUnsafeMutableBufferPointer { hp in
                        Self.sweep(sorted: UnsafeBufferPointer(sorted), levels: levels, hv: hv, hs: hs, hp: hp)
                    }
                }
            }
        }
        if threshold == .infinity {
            for j in 0..<d { codes[j] = 0 }
            return 0
        }
        // Rebuild q from the winning threshold with the sweep's own predicate |r_j|/(k+1/2) ≥ T.
        var rq = 0.0, qq = 0.0
        for j in 0..<d {
            let v = Swift.abs(residual[j])
            if v == 0 { codes[j] = 0; continue }
            let estimate = v / threshold + 0.5
            var k = estimate >= Double(levels) ? levels : Int(estimate)
            while k < levels && v / (Double(k) + 0.5) >= threshold { k += 1 }
            while k > 0 && !(v / (Double(k - 1) + 0.5) >= threshold) { k -= 1 }
            codes[j] = Int8(residual[j] < 0 ? -k : k)
            rq += v * Double(k)
            qq += Double(k * k)
        }
        return qq > 0 ? rq / qq : 0
    }

    /// The breakpoint sweep over `sorted` (nonzero magnitudes, descending); returns the best threshold `T`.
    private static func sweep(sorted mags: UnsafeBufferPointer<Double>, levels: Int,
                              hv: UnsafeMutableBufferPointer<Double>, hs: UnsafeMutableBufferPointer<Int32>,
                              hp: UnsafeMutableBufferPointer<Int32>) -> Double {
        let m = mags.count
        // Stream k's head is mags[0]/(k+1/2), decreasing in k: the array in k order is already a max-heap.
        for k in 0..<levels {
            hv[k] = mags[0] / (Double(k) + 0.5)
            hs[k] = Int32(k)
            hp[k] = 0
        }
        var count = levels
        var rq = 0.0, qq = 0.0
        var best = 0.0                    // g(a) - ||r||² of q = 0
        var bestThreshold = Double.infinity
        while count > 0 {
            let t = hv[0]
            repeat {
                let k = Int(hs[0])
                let p = Int(hp[0])
                rq += mags[p]
                qq += Double(2 * k + 1)
                if p + 1 < m {
                    hv[0] = mags[p + 1] / (Double(k) + 0.5)
                    hp[0] = Int32(p + 1)
                } else {
                    count -= 1
                    hv[0] = hv[count]; hs[0] = hs[count]; hp[0] = hp[count]
                }
                siftDown(count: count, hv: hv, hs: hs, hp: hp)
            } while count > 0 && hv[0] == t
            let lo = count > 0 ? hv[0] : 0
            var a = rq / qq
            if a > t { a = t } else if a < lo { a = lo }
            let objective = a * (a * qq - 2 * rq)
            if objective < best {
                best = objective
                bestThreshold = t
            }
        }
        return bestThreshold
    }

    @inline(__always)
    private static func siftDown(count: Int, hv: UnsafeMutableBufferPointer<Double>,
                                 hs: UnsafeMutableBufferPointer<Int32>, hp: UnsafeMutableBufferPointer<Int32>) {
        var i = 0
        let value = hv[0], stream = hs[0], position = hp[0]
        while true {
            let left = 2 * i + 1
            if left >= count { break }
            var child = left
            if left + 1 < count && hv[left + 1] > hv[left] { child = left + 1 }
            if hv[child] <= value { break }
            hv[i] = hv[child]; hs[i] = hs[child]; hp[i] = hp[child]
            i = child
        }
        hv[i] = value; hs[i] = stream; hp[i] = position
    }
}

/// Public entry point to the exact greedy step (see `GreedyWorkspace` for the algorithm).
public enum GreedyStep {
    /// The exact minimiser of `||r - a·q||²` over `a > 0`, `q ∈ G_b^d`.
    /// - Returns: the scale `a` (0 only for a zero residual) and the codes `q` (length `d`).
    public static func solve(_ residual: [Double], grid: QuantGrid) -> (scale: Double, codes: [Int8]) {
        let workspace = GreedyWorkspace(dimension: residual.count, grid: grid)
        var codes = [Int8](repeating: 0, count: residual.count)
        let a = residual.withUnsafeBufferPointer { r in
            codes.withUnsafeMutableBufferPointer { workspace.step(r, codes: $0) }
        }
        return (a, codes)
    }
}
