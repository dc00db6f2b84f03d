/// One layer as the mixed-precision search sees it.
public struct MixedPrecisionLayer: Sendable {
    public let name: String
    /// `C · d`, the layer's weight count (the accounting's unit).
    public let weightCount: Int
    /// Output channels = fp32 scales (counted only with `countScaleBits`).
    public let channels: Int
    /// Sensitivity per bit width, e.g. the mAP drop or the relative output error when this layer alone is
    /// quantized at that width (from the sensitivity pass). Lower is better; must cover every candidate width.
    public let costs: [Int: Double]

    public init(name: String, weightCount: Int, channels: Int, costs: [Int: Double]) {
        self.name = name
        self.weightCount = weightCount
        self.channels = channels
        self.costs = costs
    }
}

/// Settings of `MixedPrecision.allocate`.
public struct MixedPrecisionOptions: Sendable {
    /// Bit widths a layer may get (each in 2...8).
    public var candidateBits: [Int]
    /// Same meaning as `AllocationOptions.countScaleBits`: also charge `32 · C` bits per layer for the scales.
    public var countScaleBits: Bool
    /// Largest Pareto frontier kept exactly; beyond it the frontier is thinned (result marked inexact).
    public var maxFrontier: Int

    public init(candidateBits: [Int] = Array(2...8), countScaleBits: Bool = false, maxFrontier: Int = 1 << 21) {
        self.candidateBits = candidateBits
        self.countScaleBits = countScaleBits
        self.maxFrontier = maxFrontier
    }
}

/// The chosen bit width per layer.
public struct MixedPrecisionResult: Sendable, Equatable {
    /// `b_l` per layer, in input order.
    public let bits: [Int]
    /// `Σ_l c̃_l(b_l)` with the monotone costs (see `MixedPrecision`).
    public let totalCost: Double
    /// `floor(target · Σ_l n_l)`.
    public let budgetBits: Int
    /// `Σ_l n_l b_l` (+ `32 Σ_l C_l` with scales), ≤ `budgetBits`.
    public let usedBits: Int
    /// `Σ_l n_l b_l / Σ_l n_l`, the same as `ModelAccounting.averageWeightBits` of the quantized layers.
    public let averageWeightBits: Double
    /// False only when the frontier had to be thinned (`maxFrontier`); the result is then near-optimal.
    public let exact: Bool
}

/// True per-layer mixed precision at a size budget: one bit width per layer (every channel of a layer at that
/// width, one point each, quantized afterwards with RTN/MSE), chosen to
///
///     minimise Σ_l c_l(b_l)   subject to   Σ_l n_l b_l ≤ floor(B · Σ_l n_l),   b_l ∈ candidateBits,
///
/// with `n_l` the weight count and `B` the target average bits — the same accounting as multipoint's
/// `averageWeightBits`, so both compare at equal size.
///
/// **Costs.** The table is first made monotone, `c̃_l(b) = min_{b' ≤ b} c_l(b')` ("more bits never hurt";
/// a measured increase with more bits is calibration noise), which is what allows the final fill below.
///
/// **Exact search.** A knapsack DP over layers whose states are the Pareto frontier of (bits used, cost):
/// states sorted by bits used with strictly decreasing cost, extended by every candidate width and pruned
/// (dominated or over budget) after each layer. Bit counts stay exact integers (a DP table over bit units
/// would need `Σ n_l · 8` ≈ 2·10⁸ columns for a VGG16-SSD), and the frontier is the exact set of optimal
/// trade-offs. States are also pruned by bound: a state is dropped when its cost plus the LP-relaxation lower
/// bound of the remaining layers (`SuffixRelaxation`) exceeds the cost of a feasible incumbent (the greedy
/// fill from the lowest widths), or when the remaining layers cannot fit even at the lowest width; neither
/// can drop an optimal state, and together they keep the frontier small on model-sized inputs. If it ever
/// exceeds `maxFrontier` states it is thinned to the cheapest state per bit bucket (`exact = false`; the
/// better of that result and the greedy incumbent is returned).
///
/// **Fill.** From the cheapest final state, layers are raised to their next width while it fits (largest cost
/// decrease per added bit first, ties by layer index; with monotone costs this never adds cost), so on return
/// no single layer can be raised within the budget: the budget is met as tightly as the widths allow.
public enum MixedPrecision {
    /// Chooses one width per layer (see the type's doc).
    /// - Parameters:
    ///   - layers: weight counts and sensitivity tables, in model order (the order only breaks ties).
    ///   - target: average bits `B` over the layers' weights (`Σ n_l b_l / Σ n_l ≤ B`).
    /// - Throws: `QuantizationError.budgetBelowMinimum` when even the lowest width does not fit,
    ///   `.unsupportedBits` for a width outside 2...8, `.invalidShape` for a missing/non-finite cost or bad counts.
    public static func allocate(_ layers: [MixedPrecisionLayer], averageBits target: Double,
                                options: MixedPrecisionOptions = MixedPrecisionOptions())
        throws -> MixedPrecisionResult {
        let candidates = Array(Set(options.candidateBits)).sorted()
        guard let lowest = candidates.first else {
            throw QuantizationError.invalidShape("mixed precision needs at least one candidate bit width")
        }
        for b in candidates where !QuantGrid.supportedBits.contains(b) { throw QuantizationError.unsupportedBits(b) }
        guard options.maxFrontier >= 1 else { throw QuantizationError.invalidShape("maxFrontier must be ≥ 1") }
        let costs = try monotoneCosts(layers, candidates: candidates)
        let totalWeights = layers.reduce(0) { $0 + $1.weightCount }
        let scaleBits = options.countScaleBits ? layers.reduce(0) { $0 + 32 * $1.channels } : 0
        let minimum = layers.reduce(scaleBits) { $0 + $1.weightCount * lowest }
        let allowed = target.isFinite ? (target * Double(totalWeights)).rounded(.down) : -1
        guard totalWeights > 0, allowed >= Double(minimum) else {
            throw QuantizationError.budgetBelowMinimum(
                requested: target, minimum: totalWeights > 0 ? Double(minimum) / Double(totalWeights) : Double(lowest))
        }
        let budget = Int(Swift.min(allowed, Double(Int.max / 2)))

        func cost(_ choice: [Int]) -> Double { choice.enumerated().reduce(0.0) { $0 + costs[$1.offset][$1.element] } }
        // A feasible incumbent for pruning: the greedy fill from the lowest widths.
        var greedy = [Int](repeating: 0, count: layers.count)
        var greedyUsed = minimum
        fill(&greedy, used: &greedyUsed, layers: layers, costs: costs, candidates: candidates, budget: budget)
        let found = search(layers, costs: costs, candidates: candidates, budget: budget, start: scaleBits,
                           maxFrontier: options.maxFrontier, upperBound: cost(greedy))
        var choice = found.choice
        var used = scaleBits + zip(layers, choice).reduce(0) { $0 + $1.0.weightCount * candidates[$1.1] }
        fill(&choice, used: &used, layers: layers, costs: costs, candidates: candidates, budget: budget)
        if !found.exact && cost(greedy) < cost(choice) { (choice, used) = (greedy, greedyUsed) }

        let bits = choice.map { candidates[$0] }
        let codeBits = zip(layers, bits).reduce(0) { $0 + $1.0.weightCount * $1.1 }
        return MixedPrecisionResult(bits: bits, totalCost: cost(choice), budgetBits: budget, usedBits: used,
                                    averageWeightBits: Double(codeBits) / Double(totalWeights), exact: found.exact)
    }

    /// `c̃ [L][candidates.count]`, running minimum over increasing widths.
    private static func monotoneCosts(_ layers: [MixedPrecisionLayer], candidates: [Int]) throws -> [[Double]] {
        try layers.map { layer in
            guard layer.weightCount >= 1, layer.channels >= 1 else {
                throw QuantizationError.invalidShape("\(layer.name): weight and channel counts must be ≥ 1")
            }
            var running = Double.infinity
            return try candidates.map { b in
                guard let c = layer.costs[b], c.isFinite else {
                    throw QuantizationError.invalidShape("\(layer.name): no finite sensitivity for \(b) bits")
                }
                running = Swift.min(running, c)
                return running
            }
        }
    }

    /// The Pareto-frontier DP; returns the candidate index per layer of the cheapest final state.
    private static func search(_ layers: [MixedPrecisionLayer], costs: [[Double]], candidates: [Int], budget: Int,
                               start: Int, maxFrontier: Int, upperBound: Double) -> (choice: [Int], exact: Bool) {
        struct State { var used: Int; var cost: Double; var parent: Int32; var pick: UInt8 }
        let relaxations = SuffixRelaxation.suffixes(weightCounts: layers.map(\.weightCount), costs: costs,
                                                    candidates: candidates)
        // Tolerance so rounding in the bound's sums never prunes an optimal state.
        let limit = upperBound + 1e-9 * Swift.max(1, Swift.abs(upperBound))
        var frontier = [State(used: start, cost: 0, parent: -1, pick: 0)]
        var history: [[State]] = []
        var exact = true
        for (l, layer) in layers.enumerated() {
            var next: [State] = []
            next.reserveCapacity(frontier.count * candidates.count)
            for (p, state) in frontier.enumerated() {
                for (k, b) in candidates.enumerated() {
                    let used = state.used + layer.weightCount * b, cost = state.cost + costs[l][k]
                    // Keep only states that can still be completed within the budget and might beat the
                    // incumbent: cost + (relaxed cost of the remaining layers) ≤ upper bound.
                    if let rest = relaxations[l + 1].lowerBound(allowance: budget - used), cost + rest <= limit {
                        next.append(State(used: used, cost: cost, parent: Int32(p), pick: UInt8(k)))
                    }
                }
            }
            // Sort by bits used, then cost, then (parent, pick) so equal states resolve deterministically; keep
            // a state only if it is strictly cheaper than every state using fewer or equal bits.
            next.sort {
                $0.used != $1.used ? $0.used < $1.used
                    : $0.cost != $1.cost ? $0.cost < $1.cost
                    : $0.parent != $1.parent ? $0.parent < $1.parent : $0.pick < $1.pick
            }
            var pruned: [State] = []
            for state in next where pruned.last.map({ state.cost < $0.cost }) ?? true { pruned.append(state) }
            if pruned.count > maxFrontier, let first = pruned.first {
                // Thin to the cheapest (= last, costs decrease along the frontier) state per bucket of bits.
                exact = false
                let width = (budget - first.used) / maxFrontier + 1
                var thinned: [State] = []
                func bucket(_ s: State) -> Int { (s.used - first.used) / width }
                for (i, state) in pruned.enumerated()
                where i + 1 == pruned.count || bucket(pruned[i + 1]) != bucket(state) {
                    thinned.append(state)
                }
                pruned = thinned
            }
            history.append(pruned)
            frontier = pruned
        }
        // The minimum always fits (checked by the caller), so every frontier is non-empty.
        guard var index = frontier.indices.last else { return ([Int](repeating: 0, count: layers.count), exact) }
        var choice = [Int](repeating: 0, count: layers.count)
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let state = history[l][index]
            choice[l] = Int(state.pick)
            index = Int(state.parent)
        }
        return (choice, exact)
    }

    /// Raises layers to their next width while it fits (see the type's doc).
    private static func fill(_ choice: inout [Int], used: inout Int, layers: [MixedPrecisionLayer],
                             costs: [[Double]], candidates: [Int], budget: Int) {
        while true {
            var best: (layer: Int, gain: Double)?
            for (l, layer) in layers.enumerated() where choice[l] + 1 < candidates.count {
                let added = layer.weightCount * (candidates[choice[l] + 1] - candidates[choice[l]])
                guard used + added <= budget else { continue }
                let gain = (costs[l][choice[l]] - costs[l][choice[l] + 1]) / Double(added)
                if best.map({ gain > $0.gain }) ?? true { best = (l, gain) }
            }
            guard let pick = best else { return }
            let k = choice[pick.layer]
            used += layers[pick.layer].weightCount * (candidates[k + 1] - candidates[k])
            choice[pick.layer] = k + 1
        }
    }
}
