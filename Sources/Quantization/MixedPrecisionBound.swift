/// Lower bounds for the mixed-precision search: the LP relaxation of the multiple-choice knapsack over a suffix
/// of the layers, used to prune DP states that cannot beat a known feasible solution.
///
/// For layer `l` with monotone costs `c̃_l(b_k)` and extra bits `x_k = n_l (b_k - b_0)`, the relaxation may
/// take any point on the lower convex hull of `{(x_k, c̃_l(b_k))}`. Over layers `l..<L` with an allowance of
/// `R` bits, its optimum starts every layer at `b_0` (cost `Σ c̃_l(b_0)`, bits `Σ n_l b_0`) and spends the
/// remaining `R - Σ n_l b_0` bits on hull segments in order of increasing slope (most cost decrease per bit
/// first), the last one fractionally. That value is ≤ the cost of every integer assignment fitting `R`.
struct SuffixRelaxation {
    /// `Σ n_l b_0`: fewer bits than this cannot complete the suffix.
    let minimumBits: Int
    /// `Σ c̃_l(b_0)`.
    let baseCost: Double
    /// Hull segments sorted by slope (ascending, all < 0) as cumulative bits and cumulative cost decrease.
    private let cumulativeBits: [Double]
    private let cumulativeDrop: [Double]
    private let slopes: [Double]

    /// The relaxation's optimum with `allowance` bits, nil when even the minimum does not fit.
    func lowerBound(allowance: Int) -> Double? {
        guard allowance >= minimumBits else { return nil }
        let extra = Double(allowance - minimumBits)
        // First segment that does not fit entirely (binary search on the cumulative widths).
        var lo = 0, hi = cumulativeBits.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulativeBits[mid] <= extra { lo = mid + 1 } else { hi = mid }
        }
        var drop = lo > 0 ? cumulativeDrop[lo - 1] : 0
        if lo < slopes.count { drop += -slopes[lo] * (extra - (lo > 0 ? cumulativeBits[lo - 1] : 0)) }
        return baseCost - drop
    }

    /// Relaxations of every suffix `l..<L`, `l = 0…L` (the last one is empty).
    static func suffixes(weightCounts: [Int], costs: [[Double]], candidates: [Int]) -> [SuffixRelaxation] {
        var segments: [[(bits: Double, drop: Double)]] = []
        for (n, c) in zip(weightCounts, costs) {
            // Lower convex hull from the lowest width, as (extra bits, cost) points.
            var hull: [(x: Double, y: Double)] = []
            for (k, b) in candidates.enumerated() {
                let point = (x: Double(n * (b - candidates[0])), y: c[k])
                while hull.count >= 2 {
                    let a = hull[hull.count - 2], m = hull[hull.count - 1]
                    // Drop m unless it lies strictly below the chord a→point.
                    guard (m.y - a.y) * (point.x - a.x) >= (point.y - a.y) * (m.x - a.x) else { break }
                    hull.removeLast()
                }
                hull.append(point)
            }
            segments.append(zip(hull, hull.dropFirst()).compactMap { a, b in
                b.y < a.y ? (bits: b.x - a.x, drop: a.y - b.y) : nil
            })
        }
        var result: [SuffixRelaxation] = []
        for start in 0...weightCounts.count {
            let layerRange = start..<weightCounts.count
            let merged = layerRange.flatMap { segments[$0] }.sorted { $0.drop / $0.bits > $1.drop / $1.bits }
            var bits: [Double] = [], drops: [Double] = []
            var b = 0.0, d = 0.0
            for s in merged { b += s.bits; d += s.drop; bits.append(b); drops.append(d) }
            result.append(SuffixRelaxation(
                minimumBits: layerRange.reduce(0) { $0 + weightCounts[$1] * candidates[0] },
                baseCost: layerRange.reduce(0.0) { $0 + costs[$1][0] },
                cumulativeBits: bits, cumulativeDrop: drops, slopes: merged.map { -$0.drop / $0.bits }))
        }
        return result
    }
}
