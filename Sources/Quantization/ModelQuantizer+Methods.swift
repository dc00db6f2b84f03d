/// One layer's weights as a method produced them.
struct LayerQuantization {
    let weights: QuantizedWeights
    /// OCS: the expanded input's channel map (nil when the layer is not split).
    let inputChannelMap: [Int]?
    /// `Ŵ [C, d]` in the float layer's layout (OCS: folded back), what the model runs.
    let reconstructed: [Float]
    let relativeOutputError: Double?
}

/// The per-method weight quantization behind `ModelQuantizer.quantize`: each method over the selected layers
/// (and their calibration Gram matrices when available), all returning the same `LayerQuantization`.
enum LayerMethods {
    /// - Parameters:
    ///   - views: the layers with their Gram matrices, in the same order; nil when calibration gave none.
    static func quantize(_ layers: [QuantizableLayer], views: [AllocationLayer]?,
                         options: ModelQuantizationOptions) throws -> [LayerQuantization] {
        let grid = try QuantGrid(bits: options.weightBits)
        let threads = options.threads
        func calibrated(_ why: String) throws -> [AllocationLayer] {
            guard let views else { throw QuantizationError.missingCalibration("Gram matrices (\(why))") }
            return views
        }
        func plain(_ i: Int, _ q: QuantizedWeights) -> LayerQuantization {
            let w = q.reconstructed()
            return LayerQuantization(weights: q, inputChannelMap: nil, reconstructed: w, relativeOutputError:
                views.map { OutputError.relative($0[i], reconstructed: w, threads: threads) })
        }
        func allocated(_ a: LayerAllocation) -> LayerQuantization {
            LayerQuantization(weights: a.weights, inputChannelMap: nil, reconstructed: a.weights.reconstructed(),
                              relativeOutputError: a.relativeOutputError)
        }

        switch options.method {
        case .rtn, .mse:
            return try layers.enumerated().map { i, l in
                plain(i, try WeightQuantizer.quantize(weights: l.weights, channels: l.channels, dimension: l.dimension,
                                                      grid: grid, method: options.method == .rtn ? .rtn : .mse,
                                                      threads: threads))
            }
        case .gptq:
            return try calibrated("gptq").map {
                allocated(try GPTQ.quantize(layer: $0, options: GPTQOptions(grid: grid, threads: threads)))
            }
        case .multipoint:
            let budget = options.budget ?? .averageBits(Double(options.weightBits))
            let result = try MultipointAllocator.allocate(calibrated("multipoint"), options: AllocationOptions(
                grid: grid, budget: budget, maxPointsPerChannel: options.maxPointsPerChannel,
                countScaleBits: options.countScaleBits, firstPoint: options.firstPoint, cost: options.cost,
                threads: threads))
            return result.layers.map(allocated)
        case .ocs:
            let f = try OCS.extraFraction(matchingAverageBits: try averageBits(options), bits: options.weightBits)
            return try layers.enumerated().map { i, l in
                let r = try OCS.quantize(weights: l.weights, outputChannels: l.channels,
                                         inputChannels: l.conv.inChannels / l.groups,
                                         kernelSize: l.conv.kernelH * l.conv.kernelW, groups: l.groups,
                                         extraFraction: f, grid: grid, method: .rtn, threads: threads)
                return LayerQuantization(
                    weights: r.quantized, inputChannelMap: r.split.splits > 0 ? r.split.inputChannelMap : nil,
                    reconstructed: r.foldedWeights, relativeOutputError:
                        views.map { OutputError.relative($0[i], reconstructed: r.foldedWeights, threads: threads) })
            }
        case .mixed:
            let target = try averageBits(options)
            let costs = try options.sensitivities ?? MixedPrecision.proxySensitivities(
                calibrated("mixed precision without a sensitivity table"), candidateBits: options.candidateBits,
                threads: threads)
            let candidates = options.candidateBits.filter { b in layers.allSatisfy { costs[$0.name]?[b] != nil } }
            guard !candidates.isEmpty else {
                let missing = layers.first { costs[$0.name] == nil }?.name
                throw QuantizationError.invalidSetting("the sensitivity table " + (missing.map {
                    "has no row for layer \($0)" } ?? "has no bit width (of \(options.candidateBits)) measured for "
                        + "every layer") + "; mixed precision needs a cost for every layer at every width")
            }
            let allocation = try MixedPrecision.allocate(layers.map { l in
                MixedPrecisionLayer(name: l.name, weightCount: l.channels * l.dimension, channels: l.channels,
                                    costs: costs[l.name] ?? [:])
            }, averageBits: target, options: MixedPrecisionOptions(candidateBits: candidates,
                                                                  countScaleBits: options.countScaleBits))
            return try zip(layers, allocation.bits).enumerated().map { i, pair in
                plain(i, try WeightQuantizer.quantize(weights: pair.0.weights, channels: pair.0.channels,
                                                      dimension: pair.0.dimension, grid: try QuantGrid(bits: pair.1),
                                                      method: .rtn, threads: threads))
            }
        }
    }

    /// The average-bits target of ocs and mixed (`weightBits` when no budget is given).
    static func averageBits(_ options: ModelQuantizationOptions) throws -> Double {
        switch options.budget {
        case nil: return Double(options.weightBits)
        case .averageBits(let b): return b
        case .maxRelativeError:
            throw QuantizationError.invalidSetting(
                "a relative-error budget (--max-error) is for multipoint; \(options.method.rawValue) takes --avg-bits")
        }
    }
}
