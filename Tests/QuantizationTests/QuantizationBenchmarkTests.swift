import Foundation
import Quantization
import XCTest

/// Opt-in benchmark (not a timed test): quantizing every conv of vgg16-ssd (26.3M weights, real shapes from
/// the reference key list, random Gaussian weights). Run in release with `Scripts/bench_quantize.sh`.
/// `MPQ_HEAVY_TESTS=1` runs the weight quantizers; `MPQ_BENCH_ALLOCATION=1` also runs the H-driven allocation
/// (needs ~2 GB for the Gram matrices).
final class QuantizationBenchmarkTests: XCTestCase {
    /// (checkpoint key, output channels C, d = in·kh·kw) of every vgg16-ssd conv.
    static let vgg16SSD: [(String, Int, Int)] = [
        ("base_net.0", 64, 27), ("base_net.2", 64, 576), ("base_net.5", 128, 576), ("base_net.7", 128, 1152),
        ("base_net.10", 256, 1152), ("base_net.12", 256, 2304), ("base_net.14", 256, 2304),
        ("base_net.17", 512, 2304), ("base_net.19", 512, 4608), ("base_net.21", 512, 4608),
        ("base_net.24", 512, 4608), ("base_net.26", 512, 4608), ("base_net.28", 512, 4608),
        ("base_net.31", 1024, 4608), ("base_net.33", 1024, 1024), ("extras.0.0", 256, 1024),
        ("extras.0.2", 512, 2304), ("extras.1.0", 128, 512), ("extras.1.2", 256, 1152), ("extras.2.0", 128, 256),
        ("extras.2.2", 256, 1152), ("extras.3.0", 128, 256), ("extras.3.2", 256, 1152),
        ("classification_headers.0", 84, 4608), ("classification_headers.1", 126, 9216),
        ("classification_headers.2", 126, 4608), ("classification_headers.3", 126, 2304),
        ("classification_headers.4", 84, 2304), ("classification_headers.5", 84, 2304),
        ("regression_headers.0", 16, 4608), ("regression_headers.1", 24, 9216), ("regression_headers.2", 24, 4608),
        ("regression_headers.3", 24, 2304), ("regression_headers.4", 16, 2304), ("regression_headers.5", 16, 2304),
    ]

    /// Wall seconds of `body`; also prints the process CPU seconds, which stay meaningful when other jobs
    /// share the cores (CPU / threads is the wall time on idle cores if the work parallelises fully).
    private func seconds(_ body: () throws -> Void) rethrows -> Double {
        let cpuStart = Self.cpuSeconds()
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        print(String(format: "  cpu %.2f s", Self.cpuSeconds() - cpuStart))
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    private static func cpuSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    func testVGG16SSDWeightQuantizationSpeed() throws {
        guard ProcessInfo.processInfo.environment["MPQ_HEAVY_TESTS"] == "1" else {
            throw XCTSkip("benchmark skipped: set MPQ_HEAVY_TESTS=1 (release build: Scripts/bench_quantize.sh)")
        }
        var rng = SeededRNG(seed: 2026)
        let layers = Self.vgg16SSD.map { ($0.0, $0.1, $0.2, rng.gaussianFloats($0.1 * $0.2, scale: 0.02)) }
        let total = layers.reduce(0) { $0 + $1.1 * $1.2 }
        print("vgg16-ssd: \(layers.count) convs, \(total) weights, threads \(defaultQuantizationThreads)")
        let runs: [(Int, WeightMethod)] = [(4, .rtn), (4, .mse), (4, .multipoint(points: 2)), (4, .multipoint(points: 3)),
                                           (8, .mse)]
        for (bits, method) in runs {
            let grid = try QuantGrid(bits: bits)
            do {
                var energy = 0.0, error = 0.0
                let t = try seconds {
                    for (_, c, d, w) in layers {
                        let q = try WeightQuantizer.quantize(weights: w, channels: c, dimension: d, grid: grid, method: method)
                        let r = q.reconstructed()
                        for i in 0..<w.count {
                            energy += Double(w[i]) * Double(w[i])
                            error += Double(w[i] - r[i]) * Double(w[i] - r[i])
                        }
                    }
                }
                print(String(format: "b=%d %@: %.2f s wall (incl. reconstruction), relative L2 error %.3e",
                             bits, "\(method)", t, error / energy))
                fflush(nil)
            }
        }
    }

    func testVGG16SSDAllocationSpeed() throws {
        guard ProcessInfo.processInfo.environment["MPQ_BENCH_ALLOCATION"] == "1" else {
            throw XCTSkip("allocation benchmark skipped: set MPQ_BENCH_ALLOCATION=1 (needs ~2 GB)")
        }
        var rng = SeededRNG(seed: 2027)
        var grams: [String: GramMatrix] = [:]
        var layers: [AllocationLayer] = []
        let setup = try seconds {
            for (name, c, d) in Self.vgg16SSD {
                // Heads i read the same source feature, so classification/regression share one H, as in use.
                let key = name.hasPrefix("regression_headers") || name.hasPrefix("classification_headers")
                    ? "source.\(name.split(separator: ".").last ?? "")" : name
                let gram = try grams[key] ?? GramMatrix.of(samples: rng.gaussianFloats(32 * d), rows: 32, dimension: d)
                grams[key] = gram
                layers.append(try AllocationLayer(name: name, weights: rng.gaussianFloats(c * d, scale: 0.02),
                                                  channels: c, dimension: d, grams: [gram]))
            }
        }
        print(String(format: "setup (random H, rank 32): %.1f s", setup))
        for target in [4.25, 5.0] {
            var result: AllocationResult?
            let t = try seconds {
                result = try MultipointAllocator.allocate(layers, options: AllocationOptions(
                    grid: try QuantGrid(bits: 4), budget: .averageBits(target)))
            }
            let r = try XCTUnwrap(result)
            let model = ModelAccounting(layers: r.layers.map { LayerAccounting(allocation: $0) })
            print(String(format: "allocation avg-bits %.2f: %.1f s; avg bits %.4f (with scales %.4f), extra MACs %.4f, "
                         + "budget %d used %d bits, histogram %@", target, t, model.averageWeightBits,
                         model.averageBitsWithScales, model.extraMACs, r.budgetBits ?? 0, r.usedBits,
                         "\(model.pointsHistogram.sorted { $0.key < $1.key })"))
            XCTAssertLessThanOrEqual(model.averageWeightBits, target)
        }
    }
}
