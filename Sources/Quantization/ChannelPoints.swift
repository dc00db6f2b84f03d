/// Which point a multipoint channel starts with (`--first-point`).
///
/// Measured on the demo detector (docs/quantizer.md and notes/multipoint-first-point.md):
/// starting from the MSE-optimal clip lowers every layer's output error yet costs mAP, because clipping
/// attenuates each channel's largest weights; starting from RTN's unclipped min-max point and spending the
/// extra points on the residual wins at both budgets.
public enum MultipointFirstPoint: String, Sendable, CaseIterable, Codable {
    /// The default: per-channel min-max RTN, `a_1 = max_j |w_j| / M` (fp32), `q_1 = clip(round(w / a_1))`
    /// — the largest weight is represented exactly, nothing is clipped.
    case minMax = "minmax"
    /// DESIGN's first greedy step verbatim: the exact `argmin_{a,q} ||w - a q||²` (MSE-optimal clipping).
    case mse
}

/// The points of one weight vector, grown one at a time on the residual.
///
/// `r_0 = w`; point 1 is chosen by `MultipointFirstPoint`, every later point `i` is the exact greedy step
/// `(a_i, q_i) = argmin ||r_{i-1} - a q||²` (see `GreedyWorkspace`; the allocator may refit the scale of a
/// point that would raise the output error, `refitLastPoint`). Scales are rounded to fp32 (what is
/// stored), and `r_i = r_{i-1} - a_i q_i` is computed in Double from the stored fp32 scale, so `r_n = w - ŵ^(n)`
/// is the true residual of the stored code. From point 2 on, `q = 0` is feasible, so
/// `||r_i|| ≤ ||r_{i-1}||`: the residual norm never increases (the min-max first point never increases it
/// either: `|w_j - a_1 q_1j| ≤ a_1 / 2 ≤ |w_j|` wherever `q_1j ≠ 0`).
struct ChannelPoints {
    private(set) var residual: [Double]
    private(set) var scales: [Float] = []
    /// `[n, d]` codes, point-major.
    private(set) var codes: [Int8] = []
    let first: MultipointFirstPoint

    init<C: Collection>(weights: C, first: MultipointFirstPoint = .minMax) where C.Element == Float {
        residual = weights.map { Double($0) }
        self.first = first
    }

    var count: Int { scales.count }
    var dimension: Int { residual.count }

    /// Appends the next point; `workspace` must have been made for this grid.
    mutating func addPoint(using workspace: GreedyWorkspace) {
        let d = residual.count
        let start = codes.count
        codes.append(contentsOf: repeatElement(0, count: d))
        let stored: Float
        if scales.isEmpty && first == .minMax {
            // r_0 = w exactly (Double of Float), so these are RTN's codes and scale for w.
            let w = residual.map { Float($0) }
            stored = w.withUnsafeBufferPointer { wb in
                codes.withUnsafeMutableBufferPointer { all in
                    WeightQuantizer.roundToNearest(wb, grid: workspace.grid,
                                                   codes: UnsafeMutableBufferPointer(rebasing: all[start..<start + d]))
                }
            }
        } else {
            let a = residual.withUnsafeBufferPointer { r in
                codes.withUnsafeMutableBufferPointer { all in
                    workspace.step(r, codes: UnsafeMutableBufferPointer(rebasing: all[start..<start + d]))
                }
            }
            stored = Float(a)
        }
        scales.append(stored)
        let scale = Double(stored)
        for j in 0..<d { residual[j] -= scale * Double(codes[start + j]) }
    }

    /// Replaces the newest point's scale (and negates its codes if asked): `r ← r + a_old·q - a·q'`. The
    /// allocator's output-error repair (see `LayerState`).
    mutating func refitLastPoint(scale: Float, negate: Bool) {
        let d = residual.count, start = codes.count - d
        precondition(start >= 0 && !scales.isEmpty, "no point to refit")
        let old = Double(scales[scales.count - 1]), new = Double(scale)
        for j in 0..<d {
            residual[j] += old * Double(codes[start + j])
            if negate { codes[start + j] = -codes[start + j] }
            residual[j] -= new * Double(codes[start + j])
            // A point refitted to nothing stores no codes either (the quantized file refuses a zero scale with
            // nonzero codes); the multipoint-random ablation can keep such a point.
            if scale == 0 { codes[start + j] = 0 }
        }
        scales[scales.count - 1] = scale
    }

    /// Squared L2 norm of the residual, `||w - ŵ||²`.
    var residualSquaredNorm: Double { residual.reduce(0) { $0 + $1 * $1 } }
}
