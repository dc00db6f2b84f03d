/// The paper's allocation by an output-error threshold per layer (`--max-error ε`, `--max-error-scope layer`):
/// within each layer, independently of the others, one point at a time goes to the channel whose next point lowers
/// the layer's output error most (all channels of a layer cost the same `b·d` bits, so this is also the best gain
/// per bit), until the layer's relative output error `Σ_c e_c / Σ_c E_c` is at most `ε`, or no channel's next
/// point lowers it (gain ≤ 0, or `maxPointsPerChannel` reached). Ties go to the lowest channel index.
///
/// Each layer then sits just under `ε` (the last point given is the one that crossed it), so a layer whose RTN
/// error is already under `ε` gets no extra point at all; `--max-error-scope channel` instead holds every channel
/// to `e_c / E_c ≤ ε` (`MultipointAllocator`), which spends more on layers with a few bad channels.
enum ThresholdAllocation {
    /// Fills `state` (one point per channel accepted) and returns the extra bits given.
    static func fill(_ state: LayerState, threshold: Double, pointBits b: Int, scaleBits: Int, maxPoints: Int) -> Int {
        let channels = state.layer.channels
        guard state.layerEnergy > 0, maxPoints >= 2 else { return 0 }
        state.addPoints(to: Array(0..<channels))
        var total = (0..<channels).reduce(0.0) { $0 + state.errors[$1][0] }
        let cost = state.layer.dimension * b + scaleBits
        var used = 0
        while total > threshold * state.layerEnergy {
            var best = -1, bestGain = 0.0
            for c in 0..<channels {
                let n = state.accepted[c]
                guard n < maxPoints, state.errors[c].count > n else { continue }
                let gain = state.errors[c][n - 1] - state.errors[c][n]
                if gain > bestGain { (best, bestGain) = (c, gain) }
            }
            guard best >= 0 else { break }
            state.accepted[best] += 1
            total -= bestGain
            used += cost
            if state.accepted[best] < maxPoints { state.addLookaheadPoint(to: best) }
        }
        return used
    }
}
