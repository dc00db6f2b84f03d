/// Adaptive allocation of multipoint points across all channels of all layers ("more points where the
/// output needs them").
///
/// Every channel starts with one point — by default RTN's min-max point (`AllocationOptions.firstPoint`), so a
/// channel's one-point output error is exactly RTN's; its later points are the exact greedy steps on the
/// residual, except that a greedy point that would raise the output error gets its scale refit for `H`
/// (`LayerState.repairedError`). The error of channel `c` with `n` points is its output error
/// `e_c(n) = (w_c - ŵ_c^(n))ᵀ H_g(c) (w_c - ŵ_c^(n))`, normalised by its layer's output energy
/// `E_l = Σ_c w_cᵀ H w_c` so that layers are comparable (their sum over a layer is the layer's relative
/// output error). Adding point `n+1` costs `b·d_c` bits (`+ 32` if scales are counted) and gains
/// `(e_c(n) - e_c(n+1)) / E_l`.
///
/// With `AllocationCost.macs` every bit count above (costs, budget `B · Σ_l P_l Σ_c d_c`, the minimum) is
/// weighted by the layer's output positions `P_l`, so the budget bounds the extra multiply-adds instead of the
/// extra storage. With `AllocationCost.int8MACs` (budget mode) a layer's rows count in blocks of
/// `AllocationOptions.rowBlock`: the point that makes a layer's row count `C + e` cross into a new block costs the
/// whole block (`rowBlock` points of that layer), the following points of that layer are free until the block is
/// full. Priorities stay gain per point cost, so a block is opened by the layer's best next point and then filled
/// with that layer's best remaining points; `usedBits` counts the blocks, the result's points are the real ones.
/// `AllocationCost.int8Time` charges the same way, with its time model's depthwise weighting, depthwise levels
/// in place of blocks, and one output pass for a layer's first extra point (`AllocationTimeModel`).
///
/// - `averageBits(B)`: a max-heap holds, for every channel, the gain per bit of its next point; the best
///   one is popped and accepted if it still fits the bit budget `floor(B · Σ_c d_c)`, otherwise the channel is
///   retired (its cost never shrinks, so it never fits later). On acceptance the channel's following greedy
///   point and its error are computed lazily and pushed. The loop ends when the heap is empty: the budget
///   is never exceeded and no further point fits. Points whose gain is ≤ 0 (the channel is exact, or even the
///   repaired scale cannot lower its error) are never given. Priority ties are broken by layer then channel
///   index, so the result is deterministic.
/// - `maxRelativeError(ε)`: every channel independently receives points until `e_c / E_c ≤ ε`
///   (`E_c = w_cᵀ H w_c`; a channel with `E_c = 0` is done) or it reaches `maxPointsPerChannel`, or its next
///   point has gain 0 (not given; the channel stops, as in budget mode).
///
/// In both modes `e_c` therefore never increases with the points a channel is given, and never exceeds RTN's
/// with the default first point.
public enum MultipointAllocator {
    public static func allocate(_ layers: [AllocationLayer], options: AllocationOptions) throws -> AllocationResult {
        guard options.maxPointsPerChannel >= 1 else {
            throw QuantizationError.invalidShape("maxPointsPerChannel must be ≥ 1")
        }
        let b = options.grid.bits
        let scaleBits = options.countScaleBits ? 32 : 0
        // Every count is weighted by the layer's factor: 1 (weight bits) or its output positions (MACs).
        let factors = layers.map { layer -> Int in
            guard options.cost.countsMACs else { return 1 }
            let p = Swift.max(1, layer.outputPositions)
            return options.cost == .int8Time && layer.isDepthwise ? p * AllocationTimeModel.depthwiseMAC : p
        }
        let totalD = zip(layers, factors).reduce(0) { $0 + $1.0.channels * $1.0.dimension * $1.1 }
        let minimumBits = zip(layers, factors).reduce(0) { $0 + $1.0.channels * ($1.0.dimension * b + scaleBits) * $1.1 }
        var budgetBits: Int?
        switch options.budget {
        case .averageBits(let target):
            let allowed = target.isFinite ? (target * Double(totalD)).rounded(.down) : -1
            guard allowed >= Double(minimumBits), totalD > 0 else {
                throw QuantizationError.budgetBelowMinimum(
                    requested: target, minimum: totalD > 0 ? Double(minimumBits) / Double(totalD) : Double(b))
            }
            budgetBits = Int(Swift.min(allowed, Double(Int.max / 2)))
        case .maxRelativeError(let e), .maxLayerError(let e):
            guard e.isFinite, e > 0 else { throw QuantizationError.invalidMaxError(e) }
        }

        let states = layers.map {
            LayerState(layer: $0, grid: options.grid, first: options.firstPoint, threads: options.threads)
        }
        var usedBits = minimumBits
        switch options.budget {
        case .averageBits:
            if options.maxPointsPerChannel >= 2 {
                for state in states { state.addPoints(to: Array(0..<state.layer.channels)) }
            }
            usedBits = greedyFill(states, factors: factors, budget: budgetBits ?? 0, used: minimumBits, pointBits: b,
                                  scaleBits: scaleBits, options: options)
        case .maxRelativeError(let threshold):
            for state in states {
                var active = state.channelsAbove(threshold, maxPoints: options.maxPointsPerChannel)
                while !active.isEmpty {
                    state.addPoints(to: active)
                    for c in active {
                        let n = state.accepted[c]
                        // A point that cannot lower e_c even with its repaired scale (gain 0) is not given.
                        guard state.errors[c][n] < state.errors[c][n - 1] else {
                            state.stalled.insert(c)
                            continue
                        }
                        state.accepted[c] += 1
                        usedBits += (state.layer.dimension * b + scaleBits) * (options.cost.countsMACs
                            ? Swift.max(1, state.layer.outputPositions) : 1)
                    }
                    active = state.channelsAbove(threshold, maxPoints: options.maxPointsPerChannel)
                }
            }
        case .maxLayerError(let threshold):
            for state in states {
                usedBits += ThresholdAllocation.fill(state, threshold: threshold, pointBits: b, scaleBits: scaleBits,
                                                     maxPoints: options.maxPointsPerChannel)
            }
        }
        return AllocationResult(layers: states.map { $0.result() }, budgetBits: budgetBits, usedBits: usedBits)
    }

    private struct Candidate {
        let priority: Double
        let layer: Int
        let channel: Int
    }

    /// The heap loop of the `averageBits` mode; returns the bits used.
    private static func greedyFill(_ states: [LayerState], factors: [Int], budget: Int, used start: Int, pointBits b: Int,
                                   scaleBits: Int, options: AllocationOptions) -> Int {
        var heap = BinaryHeap<Candidate> { x, y in
            if x.priority != y.priority { return x.priority > y.priority }
            if x.layer != y.layer { return x.layer < y.layer }
            return x.channel < y.channel
        }
        func pushNext(_ l: Int, _ c: Int) {
            let state = states[l]
            let n = state.accepted[c]
            guard n < options.maxPointsPerChannel, state.layerEnergy > 0, state.errors[c].count > n else { return }
            let gain = state.errors[c][n - 1] - state.errors[c][n]
            guard gain > 0 else { return }
            let cost = Double((state.layer.dimension * b + scaleBits) * factors[l])
            heap.push(Candidate(priority: gain / state.layerEnergy / cost, layer: l, channel: c))
        }
        for l in states.indices { for c in 0..<states[l].layer.channels { pushNext(l, c) } }
        var used = start
        // Blocks (int8-macs, int8-time): a layer's rows so far; a point is free while they are not a multiple of
        // the block. int8-time: a depthwise layer's levels so far instead, and one output pass per layer.
        let timed = options.cost == .int8Time
        let block = options.cost == .int8MACs || timed ? options.rowBlock : 1
        var rows = states.map { $0.layer.channels }
        var levels = states.map { _ in 1 }
        while let best = heap.pop() {
            let state = states[best.layer]
            let unit = (state.layer.dimension * b + scaleBits) * factors[best.layer]
            var cost: Int
            if timed && state.layer.isDepthwise {
                cost = state.accepted[best.channel] + 1 > levels[best.layer] ? unit * state.layer.channels : 0
            } else {
                cost = rows[best.layer] % block == 0 ? unit * block : 0
            }
            if timed && rows[best.layer] == state.layer.channels {
                cost += AllocationTimeModel.passPerElement * b * Swift.max(1, state.layer.outputPositions)
                    * state.layer.channels
            }
            guard used + cost <= budget else { continue }
            used += cost
            rows[best.layer] += 1
            levels[best.layer] = Swift.max(levels[best.layer], state.accepted[best.channel] + 1)
            state.accepted[best.channel] += 1
            if state.accepted[best.channel] < options.maxPointsPerChannel {
                state.addLookaheadPoint(to: best.channel)
            }
            pushNext(best.layer, best.channel)
        }
        return used
    }
}
