import XCTest
import Quantization

final class AllocationTests: XCTestCase {
    private func identity(_ d: Int) throws -> GramMatrix {
        try GramMatrix(dimension: d, values: (0..<(d * d)).map { $0 / d == $0 % d ? 1 : 0 })
    }

    /// Two layers, b = 2 (ternary), H = I so e_c is the plain squared error, with DESIGN's MSE first point
    /// (`firstPoint: .mse`; the min-max default is checked in `FirstPointTests`). Hand-computed greedy points:
    /// - A0 = (1, 0.34): point 1 a = 1, q = (1,0), e1 = 0.1156; point 2 a = 0.34, q = (0,1), e2 ≈ 0.
    /// - A1 = (1, 1): point 1 is exact, e1 = 0 (never gets more).
    /// - B = (1, .5, .5, .5): point 1 a = 0.625, q = (1,1,1,1), e1 = 0.375² + 3·0.125² = 0.1875;
    ///   point 2 on (0.375, -0.125, -0.125, -0.125) leaves 0.046875 (gain 0.140625).
    /// Layer energies: E_A = 1.1156 + 2 = 3.1156, E_B = 1.75. Gain per bit: A0 0.1156/3.1156/(2·2) = 0.00928,
    /// B 0.140625/1.75/(2·4) = 0.01004, so B's point comes first.
    /// Σd = 2 + 2 + 4 = 8; one point each costs 2·8 = 16 bits.
    /// - avgBits 3.0 → budget 24: B's point (8 bits) → 24 used; A0's (4) no longer fits. n = A[1,1], B[2];
    ///   average bits = 2·(2 + 2 + 2·4)/8 = 3.0.
    /// - avgBits 2.9 → budget floor(23.2) = 23: B's point would make 24 > 23, so A0 gets one (20 used);
    ///   then B (28) and A0's third (24) do not fit. n = A[2,1], B[1]; average bits = 2·(4 + 2 + 4)/8 = 2.5.
    private func handLayers() throws -> [AllocationLayer] {
        [try AllocationLayer(name: "A", weights: [1, 0.34, 1, 1], channels: 2, dimension: 2, grams: [identity(2)]),
         try AllocationLayer(name: "B", weights: [1, 0.5, 0.5, 0.5], channels: 1, dimension: 4, grams: [identity(4)])]
    }

    func testBudgetIsMetExactlyOnHandCountedExample() throws {
        let grid = try QuantGrid(bits: 2)
        let full = try MultipointAllocator.allocate(handLayers(), options: AllocationOptions(
            grid: grid, budget: .averageBits(3.0), firstPoint: .mse, threads: 1))
        XCTAssertEqual(full.layers[0].weights.pointCounts, [1, 1])
        XCTAssertEqual(full.layers[1].weights.pointCounts, [2])
        XCTAssertEqual(full.budgetBits, 24)
        XCTAssertEqual(full.usedBits, 24)
        XCTAssertEqual(full.layers[1].channelErrors[0], 0.046875, accuracy: 1e-7)
        XCTAssertEqual(full.layers[0].channelErrors[0], 0.1156, accuracy: 1e-6)
        XCTAssertEqual(full.layers[1].relativeOutputError, 0.046875 / 1.75, accuracy: 1e-7)

        let tight = try MultipointAllocator.allocate(handLayers(), options: AllocationOptions(
            grid: grid, budget: .averageBits(2.9), firstPoint: .mse, threads: 1))
        XCTAssertEqual(tight.layers[0].weights.pointCounts, [2, 1])
        XCTAssertEqual(tight.layers[1].weights.pointCounts, [1])
        XCTAssertEqual(tight.budgetBits, 23)
        XCTAssertEqual(tight.usedBits, 20)
        let report = ModelAccounting(layers: tight.layers.map { LayerAccounting(allocation: $0) })
        XCTAssertEqual(report.averageWeightBits, 2.5, accuracy: 1e-12)
    }

    /// The same layers with a MAC-counted budget (`--cost macs`): A has 3 output positions, B one, at most 2
    /// points per channel. Weighted sizes: A 2·2·3 = 12, B 4·1 = 4, Σ = 16; one point each costs 2·16 = 32.
    /// A point of A costs 2·2·3 = 12 (gain per unit 0.1156/3.1156/12 = 0.00309), of B 2·4·1 = 8 (0.01004).
    /// - macs, avgBits 2.8 → budget floor(44.8) = 44: B's point (40 used); A0's (52) does not fit.
    /// - weights, avgBits 2.8 → budget floor(22.4) = 22: B's point would make 24, so A0's (20 used).
    /// Accounting of the macs result: MACs A 3·2·2 = 12 (float 12), B 1·2·4 = 8 (float 4): extra MACs
    /// 20/16 − 1 = 0.25, MAC-weighted bits 2·20/16 = 2.5; stored weights (4 + 8)/8 − 1 = 0.5 extra.
    func testMACCostedBudgetOnHandCountedExample() throws {
        let grid = try QuantGrid(bits: 2)
        var layers = try handLayers()
        layers[0].outputPositions = 3
        let macs = try MultipointAllocator.allocate(layers, options: AllocationOptions(
            grid: grid, budget: .averageBits(2.8), maxPointsPerChannel: 2, firstPoint: .mse, cost: .macs, threads: 1))
        XCTAssertEqual(macs.layers[0].weights.pointCounts, [1, 1])
        XCTAssertEqual(macs.layers[1].weights.pointCounts, [2])
        XCTAssertEqual(macs.budgetBits, 44)
        XCTAssertEqual(macs.usedBits, 40)
        let weights = try MultipointAllocator.allocate(layers, options: AllocationOptions(
            grid: grid, budget: .averageBits(2.8), maxPointsPerChannel: 2, firstPoint: .mse, cost: .weights, threads: 1))
        XCTAssertEqual(weights.layers[0].weights.pointCounts, [2, 1])
        XCTAssertEqual(weights.layers[1].weights.pointCounts, [1])
        XCTAssertEqual(weights.budgetBits, 22)
        XCTAssertEqual(weights.usedBits, 20)

        let report = ModelAccounting(layers: zip(macs.layers, [3, 1]).map {
            LayerAccounting(name: $0.0.name, weights: $0.0.weights, outputPositions: $0.1)
        })
        XCTAssertEqual(report.extraMACs, 0.25, accuracy: 1e-12)
        XCTAssertEqual(report.macAverageBits, 2.5, accuracy: 1e-12)
        XCTAssertEqual(report.extraWeights, 0.5, accuracy: 1e-12)
        XCTAssertEqual(report.averageWeightBits, 3.0, accuracy: 1e-12)
    }

    /// `--cost int8-macs`: rows in blocks (here 2). A has two equal channels (1, 0.34) and 3 output positions, B is
    /// as above with one. Weighted sizes: A 2·2·3 = 12, B 4, Σ = 16; one point each: 2·2·(2·3) + 2·4 = 32.
    /// Gain per unit cost: B 0.140625/1.75/8 = 0.01004, each A channel 0.1156/2.2312/12 = 0.00432: B first.
    /// Budget avgBits 3.5 → floor(56) = 56.
    /// - int8-macs: B has 1 row, so its second row fills the block it already occupies: free (32 used). A's 2 rows
    ///   fill a block: A0's point opens one, 2·12 = 24 (56 used), and A1's point is then free. A [2, 2], B [2].
    /// - macs: B 8 (40), A0 12 (52), A1 would make 64 > 56. A [2, 1], B [2]: a ragged row count.
    func testInt8MACCostFillsRowBlocksOnHandCountedExample() throws {
        let grid = try QuantGrid(bits: 2)
        var layers = [try AllocationLayer(name: "A", weights: [1, 0.34, 1, 0.34], channels: 2, dimension: 2,
                                          grams: [identity(2)]),
                      try AllocationLayer(name: "B", weights: [1, 0.5, 0.5, 0.5], channels: 1, dimension: 4,
                                          grams: [identity(4)])]
        layers[0].outputPositions = 3
        func run(_ cost: AllocationCost) throws -> AllocationResult {
            try MultipointAllocator.allocate(layers, options: AllocationOptions(
                grid: grid, budget: .averageBits(3.5), maxPointsPerChannel: 2, firstPoint: .mse, cost: cost,
                rowBlock: 2, threads: 1))
        }
        let blocks = try run(.int8MACs)
        XCTAssertEqual(blocks.layers[0].weights.pointCounts, [2, 2])
        XCTAssertEqual(blocks.layers[1].weights.pointCounts, [2])
        XCTAssertEqual(blocks.budgetBits, 56)
        XCTAssertEqual(blocks.usedBits, 56)
        let macs = try run(.macs)
        XCTAssertEqual(macs.layers[0].weights.pointCounts, [2, 1])
        XCTAssertEqual(macs.layers[1].weights.pointCounts, [2])
        XCTAssertEqual(macs.usedBits, 52)
        XCTAssertEqual(AllocationCost(rawValue: "int8-macs"), .int8MACs)
    }

    /// `--cost int8-time` (depthwise multiply-add = 8 dense ones, one output pass = 40 per element): a depthwise
    /// layer D (2 channels, each (1, 0.34), 2 taps, one group per channel, 1 output position) and B as above (rows
    /// in blocks of 2). b = 2. Factors: D 1·8 = 8, B 1. Weighted sizes: D 2·2·8 = 32, B 4, Σ = 36; one point each:
    /// 2·2·2·8 + 2·4 = 72. A point's unit: D 2·2·8 = 32, B 2·4 = 8. Gain per unit: B 0.140625/1.75/8 = 0.01004,
    /// each D channel 0.1156/2.2312/32 = 0.00162: B first. B's second row fills its block (free) but is the layer's
    /// first extra point: one pass, 40·2·1·1 = 80. D's first extra point opens level 2, a row for both channels
    /// (2·32 = 64), plus its pass 40·2·1·2 = 160: 224; D's other channel then joins level 2 for free.
    /// - avgBits 4.5 → floor(162) = 162: B (152 used); D would make 376. D [1, 1], B [2].
    /// - avgBits 10.5 → floor(378) = 378: B (152), D0 (376), D1 free. D [2, 2], B [2], 376 used.
    /// - int8-macs at 4.5 (factors 1, Σ = 8, budget floor(36) = 36, one point each 16): B free (16), D a block of 2
    ///   rows 2·(2·2) = 8 (24), D1 free: D [2, 2] — the depthwise level and the passes are not charged.
    func testInt8TimeCostChargesDepthwiseLevelsAndPassesOnHandCountedExample() throws {
        let grid = try QuantGrid(bits: 2)
        let layers = [try AllocationLayer(name: "D", weights: [1, 0.34, 1, 0.34], channels: 2, dimension: 2,
                                          grams: [identity(2), identity(2)]),
                      try AllocationLayer(name: "B", weights: [1, 0.5, 0.5, 0.5], channels: 1, dimension: 4,
                                          grams: [identity(4)])]
        XCTAssertTrue(layers[0].isDepthwise)
        XCTAssertFalse(layers[1].isDepthwise)
        XCTAssertEqual(AllocationTimeModel.depthwiseMAC, 8)
        XCTAssertEqual(AllocationTimeModel.passPerElement, 40)
        func run(_ cost: AllocationCost, _ bits: Double) throws -> AllocationResult {
            try MultipointAllocator.allocate(layers, options: AllocationOptions(
                grid: grid, budget: .averageBits(bits), maxPointsPerChannel: 2, firstPoint: .mse, cost: cost,
                rowBlock: 2, threads: 1))
        }
        let tight = try run(.int8Time, 4.5)
        XCTAssertEqual(tight.layers[0].weights.pointCounts, [1, 1])
        XCTAssertEqual(tight.layers[1].weights.pointCounts, [2])
        XCTAssertEqual(tight.budgetBits, 162)
        XCTAssertEqual(tight.usedBits, 152)
        let level = try run(.int8Time, 10.5)
        XCTAssertEqual(level.layers[0].weights.pointCounts, [2, 2])
        XCTAssertEqual(level.layers[1].weights.pointCounts, [2])
        XCTAssertEqual(level.budgetBits, 378)
        XCTAssertEqual(level.usedBits, 376)
        let macs = try run(.int8MACs, 4.5)
        XCTAssertEqual(macs.layers[0].weights.pointCounts, [2, 2])
        XCTAssertEqual(macs.budgetBits, 36)
        XCTAssertEqual(macs.usedBits, 24)
        XCTAssertEqual(AllocationCost(rawValue: "int8-time"), .int8Time)
    }

    /// Threshold mode on the same layers, ε = 0.05: A0 1 point leaves 0.1156/1.1156 = 0.104 > ε → 2 points;
    /// A1 exact; B leaves 0.1875/1.75 = 0.107 → 2 points leave 0.046875/1.75 = 0.027 ≤ ε.
    func testThresholdModeOnHandCountedExample() throws {
        let result = try MultipointAllocator.allocate(handLayers(), options: AllocationOptions(
            grid: try QuantGrid(bits: 2), budget: .maxRelativeError(0.05), firstPoint: .mse, threads: 1))
        XCTAssertEqual(result.layers[0].weights.pointCounts, [2, 1])
        XCTAssertEqual(result.layers[1].weights.pointCounts, [2])
        XCTAssertNil(result.budgetBits)
        XCTAssertEqual(result.usedBits, 2 * (4 + 2 + 8))
    }

    func testBudgetBelowWeightBitsIsAClearError() throws {
        XCTAssertThrowsError(try MultipointAllocator.allocate(handLayers(), options: AllocationOptions(
            grid: try QuantGrid(bits: 4), budget: .averageBits(3.9)))) { error in
            XCTAssertEqual(error as? QuantizationError, .budgetBelowMinimum(requested: 3.9, minimum: 4))
            XCTAssertTrue("\(error)".contains("below the minimum 4.0"), "\(error)")
        }
        XCTAssertThrowsError(try MultipointAllocator.allocate(handLayers(), options: AllocationOptions(
            grid: try QuantGrid(bits: 4), budget: .maxRelativeError(-1))))
    }

    /// Random layers (one plain, one with 2 groups, one depthwise-like) with H from random samples: the
    /// budget is never exceeded, no further useful point fits (checked with an independent recomputation of
    /// the greedy points and of e_c = δᵀHδ), reported errors match, and the result is thread-count independent.
    func testRandomModelsMeetBudgetAndNoPointFits() throws {
        for seed in UInt64(0)..<4 {
            let first: MultipointFirstPoint = seed < 2 ? .minMax : .mse
            var rng = SeededRNG(seed: 100 + seed)
            let grid = try QuantGrid(bits: 3 + Int(seed % 2))
            var layers: [AllocationLayer] = []
            for (l, (c, d, g)) in [(6, 12, 1), (4, 10, 2), (5, 9, 5)].enumerated() {
                let grams = try (0..<g).map { _ in
                    try GramMatrix.of(samples: rng.gaussianFloats(3 * d), rows: 3, dimension: d)  // rank-deficient H
                }
                layers.append(try AllocationLayer(name: "L\(l)", weights: rng.gaussianFloats(c * d), channels: c,
                                                  dimension: d, grams: grams))
            }
            let options = AllocationOptions(grid: grid, budget: .averageBits(Double(grid.bits) + 1.3),
                                            maxPointsPerChannel: 5, firstPoint: first, threads: 1)
            let result = try MultipointAllocator.allocate(layers, options: options)
            var parallelOptions = options
            parallelOptions.threads = 4
            let again = try MultipointAllocator.allocate(layers, options: parallelOptions)
            XCTAssertEqual(result.layers.map(\.weights), again.layers.map(\.weights))

            let budget = try XCTUnwrap(result.budgetBits)
            let totalD = layers.reduce(0) { $0 + $1.channels * $1.dimension }
            XCTAssertEqual(budget, Int((Double(grid.bits) + 1.3) * Double(totalD)))
            var used = 0
            for (l, layer) in layers.enumerated() {
                for c in 0..<layer.channels { used += grid.bits * layer.dimension * result.layers[l].weights.pointCounts[c] }
            }
            XCTAssertEqual(used, result.usedBits)
            let points = result.layers.reduce(0) { $0 + $1.weights.pointCounts.reduce(0, +) }
            // 15 channels, Σd = 157: 1.3·157 = 204 extra bits buy 4–6 points of 27–48 bits each.
            XCTAssertGreaterThanOrEqual(points, 15 + 4, "the budget should buy extra points")
            XCTAssertLessThanOrEqual(used, budget)
            for (l, layer) in layers.enumerated() {
                let d = layer.dimension
                for c in 0..<layer.channels {
                    let n = result.layers[l].weights.pointCounts[c]
                    let h = layer.grams[c / (layer.channels / layer.grams.count)]
                    let w = Array(layer.weights[c * d..<(c + 1) * d])
                    let eN = try multipointOutputError(w, points: n, first: first, grid: grid, gram: h)
                    XCTAssertEqual(result.layers[l].channelErrors[c], eN, accuracy: 1e-9 * max(eN, 1e-6))
                    if n < options.maxPointsPerChannel {
                        let gain = eN - (try multipointOutputError(w, points: n + 1, first: first, grid: grid, gram: h))
                        if gain > 1e-12 * eN { XCTAssertGreaterThan(used + grid.bits * d, budget, "L\(l) c\(c)") }
                    }
                }
            }
        }
    }

    /// Hand-computed Gram: X = [[1, 2], [3, 4]] → XᵀX = [[1+9, 2+12], [2+12, 4+16]] = [[10, 14], [14, 20]].
    func testGramOfSamples() throws {
        let h = try GramMatrix.of(samples: [1, 2, 3, 4], rows: 2, dimension: 2)
        XCTAssertEqual(h.values, [10, 14, 14, 20])
    }
}

final class AccountingTests: XCTestCase {
    /// Layer: C = 3, d = 10, b = 4, n = (1, 2, 3) → Σn_c = 6, code bits 4·6·10 = 240.
    /// avg weight bits 240/30 = 8; with scales (240 + 32·6)/30 = 14.4; extra MACs 60/30 - 1 = 1;
    /// bytes 240/8 + 4·6 + 4·3 (bias) = 30 + 24 + 12 = 66. Plus a float layer of 100 params: 466 bytes.
    func testHandCountedAccounting() throws {
        let grid = try QuantGrid(bits: 4)
        let weights = QuantizedWeights(channels: 3, dimension: 10, grid: grid, pointCounts: [1, 2, 3],
                                       scales: [Float](repeating: 1, count: 6), codes: [Int8](repeating: 1, count: 60))
        let layer = LayerAccounting(name: "conv", weights: weights, floatParameters: 3)
        XCTAssertEqual(layer.pointsHistogram, [1: 1, 2: 1, 3: 1])
        XCTAssertEqual(layer.averageWeightBits, 8)
        XCTAssertEqual(layer.averageBitsWithScales, 14.4, accuracy: 1e-12)
        XCTAssertEqual(layer.extraMACs, 1)
        XCTAssertEqual(layer.bytes, 66)
        let model = ModelAccounting(layers: [layer, layer], floatLayerParameters: 100)
        XCTAssertEqual(model.modelBytes, 2 * 66 + 400)
        XCTAssertEqual(model.pointsHistogram, [1: 2, 2: 2, 3: 2])
        XCTAssertEqual(model.averageWeightBits, 8)
        XCTAssertEqual(model.extraMACs, 1)
    }
}
