import Parallelism
/// The allocator's working state for one layer: every channel's greedy points (computed lazily, possibly
/// one ahead of the accepted count) and their output errors.
final class LayerState {
    let layer: AllocationLayer
    let grid: QuantGrid
    let threads: Int
    /// Channels whose last computed point did not lower `e_c` (threshold mode stops giving them points).
    var stalled: Set<Int> = []
    /// Greedy points computed so far per channel (≥ `accepted[c]`).
    var points: [ChannelPoints]
    /// `errors[c][n-1] = e_c(n)` for every computed point count `n`.
    var errors: [[Double]]
    /// Accepted point count `n_c` per channel.
    var accepted: [Int]
    /// `E_c = w_cᵀ H w_c` per channel and their sum over the layer.
    let energies: [Double]
    let layerEnergy: Double
    private let workspace: GreedyWorkspace

    /// Computes `E_c` and every channel's first point with its error.
    init(layer: AllocationLayer, grid: QuantGrid, first: MultipointFirstPoint = .minMax, threads: Int) {
        self.layer = layer
        self.grid = grid
        self.threads = threads
        let d = layer.dimension
        points = (0..<layer.channels).map { c in
            ChannelPoints(weights: layer.weights[c * d..<(c + 1) * d], first: first)
        }
        errors = [[Double]](repeating: [], count: layer.channels)
        accepted = [Int](repeating: 1, count: layer.channels)
        workspace = GreedyWorkspace(dimension: d, grid: grid)
        let all = Array(0..<layer.channels)
        energies = Self.forms(layer: layer, channels: all, threads: threads) { c, row in
            for j in 0..<d { row[j] = Double(layer.weights[c * d + j]) }
        }
        layerEnergy = energies.reduce(0, +)
        addPoints(to: all)
    }

    /// Adds one greedy point to each listed channel (in parallel) and records the new errors (batched).
    func addPoints(to channels: [Int]) {
        let d = layer.dimension
        let block = Swift.max(1, 32_768 / Swift.max(d, 1))
        let grid = self.grid
        channels.withUnsafeBufferPointer { list in
            points.withUnsafeMutableBufferPointer { pts in
                let lp = SendablePointer(base: UnsafeMutablePointer(mutating: list.baseAddress!))
                let pp = SendablePointer(base: pts.baseAddress!)
                parallelBlocks(count: list.count, blockSize: block, threads: threads) { range in
                    let workspace = GreedyWorkspace(dimension: d, grid: grid)
                    for i in range { pp.base[lp.base[i]].addPoint(using: workspace) }
                }
            }
        }
        let snapshot = self.points
        let values = Self.forms(layer: layer, channels: channels, threads: threads) { c, row in
            snapshot[c].residual.withUnsafeBufferPointer { r in for j in 0..<d { row[j] = r[j] } }
        }
        for (i, c) in channels.enumerated() { errors[c].append(repairedError(c, values[i])) }
    }

    /// Adds the next point to one channel and computes its error alone (the heap loop's lazy step).
    func addLookaheadPoint(to c: Int) {
        points[c].addPoint(using: workspace)
        let gram = layer.grams[layer.group(of: c)]
        let e = points[c].residual.withUnsafeBufferPointer { QuadraticForms.single($0, gram: gram, threads: threads) }
        errors[c].append(repairedError(c, e))
    }

    /// `e` is the error after channel `c`'s newest point. A greedy point minimises the L2 residual, not the
    /// H-weighted one, so a later point (n ≥ 2) can raise `e_c`; such a point keeps its codes `q` and gets the
    /// output-optimal scale instead: with `e(a) = e_prev - 2a·qᵀHr + a²·qᵀHq` (`r` the residual before it),
    /// `a* = qᵀHr / qᵀHq`, stored as `|a*|` (fp32) with the sign folded into `q`. `qᵀHr` is recovered from the
    /// two errors, `qᵀHr = (e_prev - e + a²·qᵀHq) / (2a)`, so the repair costs one more quadratic form. `a = 0`
    /// is feasible, so the repaired error never exceeds `e_prev`; if it cannot lower it, the point gets
    /// `a = 0` (gain 0: the allocator never gives it). Returns the error of the point as stored.
    private func repairedError(_ c: Int, _ e: Double) -> Double {
        let n = points[c].count
        guard n >= 2, e >= errors[c][n - 2] else { return e }
        let previous = errors[c][n - 2]
        let d = layer.dimension
        let gram = layer.grams[layer.group(of: c)]
        let q = points[c].codes[(n - 1) * d..<n * d].map { Double($0) }
        let qq = q.withUnsafeBufferPointer { QuadraticForms.single($0, gram: gram, threads: threads) }
        let a = Double(points[c].scales[n - 1])
        guard qq > 0, a > 0 else {
            points[c].refitLastPoint(scale: 0, negate: false)
            return previous
        }
        let qr = (previous - e + a * a * qq) / (2 * a)
        points[c].refitLastPoint(scale: Float(Swift.abs(qr) / qq), negate: qr < 0)
        let repaired = points[c].residual.withUnsafeBufferPointer {
            QuadraticForms.single($0, gram: gram, threads: threads)
        }
        guard repaired < previous else {
            points[c].refitLastPoint(scale: 0, negate: false)
            return previous
        }
        return repaired
    }

    /// Channels whose relative error `e_c(n_c) / E_c` exceeds `threshold` and may still grow (not `stalled`).
    func channelsAbove(_ threshold: Double, maxPoints: Int) -> [Int] {
        (0..<layer.channels).filter { c in
            let n = accepted[c]
            return n < maxPoints && energies[c] > 0 && !stalled.contains(c)
                && errors[c][n - 1] / energies[c] > threshold
        }
    }

    /// The accepted points as a `QuantizedWeights` plus per-channel errors and energies.
    func result() -> LayerAllocation {
        let d = layer.dimension
        var scales: [Float] = [], codes: [Int8] = []
        for c in 0..<layer.channels {
            let n = accepted[c]
            scales += points[c].scales[0..<n]
            codes += points[c].codes[0..<(n * d)]
        }
        let weights = QuantizedWeights(channels: layer.channels, dimension: d, grid: grid, pointCounts: accepted,
                                       scales: scales, codes: codes)
        return LayerAllocation(name: layer.name, weights: weights,
                               channelErrors: (0..<layer.channels).map { errors[$0][accepted[$0] - 1] },
                               channelEnergies: energies)
    }

    /// `vᵀ H_g(c) v` for the vectors `fill(c, row)` writes. The channels are cut into chunks of ≤ 128 rows of
    /// one group (a partition fixed by the inputs), and the chunks' GEMMs run in parallel on single-threaded
    /// BLAS, each writing its own outputs: deterministic for any thread count.
    static func forms(layer: AllocationLayer, channels: [Int], threads: Int,
                      fill: @Sendable (Int, UnsafeMutableBufferPointer<Double>) -> Void) -> [Double] {
        let d = layer.dimension
        var byGroup: [Int: [Int]] = [:]
        for (i, c) in channels.enumerated() { byGroup[layer.group(of: c), default: []].append(i) }
        var chunks: [(group: Int, members: ArraySlice<Int>)] = []
        for g in byGroup.keys.sorted() {
            let members = byGroup[g] ?? []
            for start in stride(from: 0, to: members.count, by: 128) {
                chunks.append((g, members[start..<Swift.min(members.count, start + 128)]))
            }
        }
        var out = [Double](repeating: 0, count: channels.count)
        QuadraticForms.pinBLAS()
        out.withUnsafeMutableBufferPointer { outBuf in
            let op = SendablePointer(base: outBuf.baseAddress!)
            let work = chunks, list = channels
            parallelBlocks(count: work.count, blockSize: 1, threads: threads) { range in
                for index in range {
                    let (g, members) = work[index]
                    var rows = [Double](repeating: 0, count: members.count * d)
                    rows.withUnsafeMutableBufferPointer { buf in
                        for (k, i) in members.enumerated() {
                            fill(list[i], UnsafeMutableBufferPointer(rebasing: buf[(k * d)..<((k + 1) * d)]))
                        }
                    }
                    let values = QuadraticForms.batch(rows, count: members.count, gram: layer.grams[g])
                    for (k, i) in members.enumerated() { op.base[i] = values[k] }
                }
            }
        }
        return out
    }
}
