/// The greedy points of one weight vector, grown one at a time on the residual.
///
/// `r_0 = w`; point `i` is the exact step `(a_i, q_i) = argmin ||r_{i-1} - a q||²` (see `GreedyWorkspace`),
/// with `a_i` rounded to fp32 (what is stored), and `r_i = r_{i-1} - a_i q_i` computed in Double from the
/// stored fp32 scale, so `r_n = w - ŵ^(n)` is the true residual of the stored code. Because `q = 0` is
/// feasible, `||r_i|| ≤ ||r_{i-1}||`: the residual norm never increases.
struct ChannelPoints {
    private(set) var residual: [Double]
    private(set) var scales: [Float] = []
    /// `[n, d]` codes, point-major.
    private(set) var codes: [Int8] = []

    init<C: Collection>(weights: C) where C.Element == Float {
        residual = weights.map { Double($0) }
    }

    var count: Int { scales.count }
    var dimension: Int { residual.count }

    /// Appends the next greedy point; `workspace` must have been made for this grid.
    mutating func addPoint(using workspace: GreedyWorkspace) {
        let d = residual.count
        let start = codes.count
        codes.append(contentsOf: repeatElement(0, count: d))
        let a = residual.withUnsafeBufferPointer { r in
            codes.withUnsafeMutableBufferPointer { all in
                workspace.step(r, codes: UnsafeMutableBufferPointer(rebasing: all[start..<start + d]))
            }
        }
        let stored = Float(a)
        scales.append(stored)
        let scale = Double(stored)
        for j in 0..<d { residual[j] -= scale * Double(codes[start + j]) }
    }

    /// Squared L2 norm of the residual, `||w - ŵ||²`.
    var residualSquaredNorm: Double { residual.reduce(0) { $0 + $1 * $1 } }
}
