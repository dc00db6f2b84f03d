/// The random-allocation ablation of multipoint (`--allocation random`, method `multipoint-random`): the same
/// number of extra points per layer as the adaptive allocation gives (so the same bits per layer and in total),
/// but each extra point goes to a channel drawn uniformly at random (SplitMix64 from `seed`; a channel at
/// `maxPointsPerChannel` is not drawn again). The points themselves are computed exactly as in the adaptive
/// allocation (`LayerState`: RTN's first point, greedy steps, the output-error repair of the scale). If
/// multipoint beats this at equal bits, it is the choice of channels — adaptivity — that pays, not the extra bits.
enum RandomAllocation {
    static func allocate(_ layers: [AllocationLayer], options: AllocationOptions, seed: UInt64) throws
        -> AllocationResult {
        let adaptive = try MultipointAllocator.allocate(layers, options: options)
        var rng = SplitMix(state: seed)
        let cap = Swift.max(options.maxPointsPerChannel, 1)
        var results: [LayerAllocation] = []
        for (layer, chosen) in zip(layers, adaptive.layers) {
            let extra = chosen.weights.pointCounts.reduce(0, +) - layer.channels
            var counts = [Int](repeating: 1, count: layer.channels)
            var open = Array(0..<layer.channels)
            for _ in 0..<extra where !open.isEmpty {
                let k = Int(rng.next() % UInt64(open.count))
                counts[open[k]] += 1
                if counts[open[k]] >= cap { open.swapAt(k, open.count - 1); open.removeLast() }
            }
            let state = LayerState(layer: layer, grid: options.grid, first: options.firstPoint,
                                   threads: options.threads)
            let most = counts.max() ?? 1
            if most >= 2 {
                for n in 2...most { state.addPoints(to: (0..<layer.channels).filter { counts[$0] >= n }) }
            }
            state.accepted = counts
            results.append(state.result())
        }
        return AllocationResult(layers: results, budgetBits: adaptive.budgetBits, usedBits: adaptive.usedBits)
    }

    /// SplitMix64 (Steele et al.), the generator the bootstrap uses too.
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
