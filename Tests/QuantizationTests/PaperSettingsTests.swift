import Checkpoints
import Foundation
@testable import Quantization
import SSD
import Tensors
import XCTest

/// The paper's settings: allocation by an output-error threshold per layer, and the figures' data.
final class PaperSettingsTests: XCTestCase {
    private func layers(seed: UInt64) throws -> [AllocationLayer] {
        var rng = SeededRNG(seed: seed)
        return try (0..<3).map { i in
            let d = 12 + 6 * i, c = 20
            let x = rng.gaussianFloats(300 * d)
            var w = rng.gaussianFloats(c * d, scale: 0.3)
            for k in stride(from: 0, to: c, by: 4 + i) { w[k * d + i] *= 6 }
            return try AllocationLayer(name: "l\(i)", weights: w, channels: c, dimension: d,
                                       grams: [try GramMatrix.of(samples: x, rows: 300, dimension: d)])
        }
    }

    /// Every layer ends at or under ε with extra points; a layer already under ε gets none; the bits used are
    /// counted; the per-channel scope needs more bits for the same ε.
    func testLayerThresholdStopsJustUnderEpsilon() throws {
        let ls = try layers(seed: 4)
        let grid = try QuantGrid(bits: 3)
        let rtn = try MultipointAllocator.allocate(ls, options: AllocationOptions(grid: grid, budget: .averageBits(3)))
        let eps = 0.5 * (rtn.layers.map(\.relativeOutputError).min() ?? 0)
        let result = try MultipointAllocator.allocate(ls, options: AllocationOptions(grid: grid,
                                                                                      budget: .maxLayerError(eps)))
        var extra = 0
        for (layer, view) in zip(result.layers, ls) {
            XCTAssertLessThanOrEqual(layer.relativeOutputError, eps * (1 + 1e-9), layer.name)
            let points = layer.weights.pointCounts.reduce(0, +) - view.channels
            XCTAssertGreaterThan(points, 0)
            extra += points * view.dimension * 3
        }
        XCTAssertEqual(result.usedBits, ls.reduce(0) { $0 + $1.channels * $1.dimension * 3 } + extra)
        // Loose threshold: RTN is already under it, nothing is added.
        let loose = try MultipointAllocator.allocate(ls, options: AllocationOptions(grid: grid,
                                                                                     budget: .maxLayerError(10)))
        XCTAssertEqual(loose.layers.map(\.weights.pointCounts), rtn.layers.map(\.weights.pointCounts))
        // The per-channel scope holds every channel to ε: it needs more bits for the same ε here.
        let perChannel = try MultipointAllocator.allocate(ls, options: AllocationOptions(
            grid: grid, budget: .maxRelativeError(eps)))
        XCTAssertGreaterThan(perChannel.usedBits, result.usedBits)
    }

    /// The greedy order inside a layer: a threshold just above the error after k steps of the layer-local greedy
    /// gives exactly those k points, and they are the k largest available gains taken one by one (brute force).
    func testLayerThresholdFollowsLargestGainOrder() throws {
        let view = try layers(seed: 9)[1]
        let grid = try QuantGrid(bits: 2)
        let state = LayerState(layer: view, grid: grid, threads: 1)
        state.addPoints(to: Array(0..<view.channels))
        var total = (0..<view.channels).reduce(0.0) { $0 + state.errors[$1][0] }
        var counts = [Int](repeating: 1, count: view.channels)
        for _ in 0..<7 {
            let best = (0..<view.channels).max { a, b in
                let ga = state.errors[a][counts[a] - 1] - state.errors[a][counts[a]]
                let gb = state.errors[b][counts[b] - 1] - state.errors[b][counts[b]]
                return ga != gb ? ga < gb : a > b
            }!
            total -= state.errors[best][counts[best] - 1] - state.errors[best][counts[best]]
            counts[best] += 1
            state.addLookaheadPoint(to: best)
        }
        let eps = total / state.layerEnergy * (1 + 1e-9)
        let result = try MultipointAllocator.allocate([view], options: AllocationOptions(grid: grid,
                                                                                          budget: .maxLayerError(eps)))
        XCTAssertEqual(result.layers[0].weights.pointCounts, counts)
    }

    /// The figures' data on the small MobileNetV2 fixture: one curve per layer whose one-point value is RTN's error
    /// exactly (multipoint's first point is RTN's), more points never above RTN in the median; the SVGs name
    /// what they show.
    func testErrorCurvesAndFigures() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../SSDTests/Fixtures/parity/torch/small-mb2-w0.25-c3.pth").standardized
        let (dict, _) = try Checkpoint.load(url)
        let model = try SSDModel(loading: dict, file: url.lastPathComponent)
        var rng = SeededRNG(seed: 5)
        let calibrator = Calibrator(layers: model.quantizableLayers, grams: true, ranges: true)
        var ws = SSDWorkspace()
        calibrator.observe(Tensor(shape: [1, 3, 300, 300], data: rng.gaussianFloats(270_000)), model: model,
                           workspace: &ws)
        let stats = try calibrator.statistics()
        let curves = try AllocationFigures.errorCurves(model: model, statistics: stats, bits: 3, maxPoints: 3)
        XCTAssertEqual(curves.map(\.name), model.quantizableLayers.map(\.name))
        for c in curves {
            XCTAssertEqual(c.multipoint.count, 3)
            XCTAssertEqual(c.multipoint[0], c.rtn, accuracy: 1e-12 * Swift.max(c.rtn, 1), c.name)
            XCTAssertLessThan(c.multipoint[2], c.rtn + 1e-12, c.name)
        }
        let svg = AllocationFigures.errorVersusPointsSVG(curves, bits: 3)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 3, "one marker per point count")
        XCTAssertTrue(svg.contains("RTN (1 point)") && svg.contains("MSE clip (1 point)"))
        let hist = AllocationFigures.pointsHistogramSVG([("a", [1, 1, 2, 7]), ("b", [1])], title: "t")
        XCTAssertTrue(hist.contains("a: 2 of 4 channels with 1 points"))
        XCTAssertTrue(hist.contains("a: 1 of 4 channels with 5+ points"))
        XCTAssertTrue(hist.contains(">2.75<"), "average points of a")
    }
}
