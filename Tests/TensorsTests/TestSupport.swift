// Shared helpers for TensorsTests: a seeded generator, the golden-fixture loader, comparisons.
import Foundation
import XCTest
@testable import Tensors

/// SplitMix64: a tiny seeded generator so random cases are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomTensor(_ shape: [Int], _ rng: inout SeededGenerator, scale: Float = 1) -> Tensor {
    let n = shape.reduce(1, *)
    return Tensor(shape: shape, data: (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) })
}

/// Fails unless `|a - b| <= atol + rtol * |b|` element-wise and the shapes match.
func assertClose(_ a: Tensor, _ b: Tensor, atol: Float = 1e-5, rtol: Float = 1e-5, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "\(what): shape", file: file, line: line)
    guard a.shape == b.shape else { return }
    var worst: Float = 0, worstIndex = 0
    for i in 0..<a.count {
        let excess = abs(a.data[i] - b.data[i]) - (atol + rtol * abs(b.data[i]))
        if excess > worst || a.data[i].isNaN != b.data[i].isNaN { worst = max(excess, 1); worstIndex = i }
    }
    XCTAssertEqual(worst, 0, "\(what): element \(worstIndex) got \(a.data[worstIndex]) want \(b.data[worstIndex])",
                   file: file, line: line)
}

/// The golden cases written by `Scripts/gen_tensor_fixtures.py`.
struct GoldenFile: Decodable {
    struct Blob: Decodable {
        let shape: [Int]
        let f32: String
        func tensor() throws -> Tensor {
            guard let data = Data(base64Encoded: f32) else { throw CocoaError(.coderReadCorrupt) }
            var values = [Float](repeating: 0, count: data.count / 4)
            _ = values.withUnsafeMutableBytes { data.copyBytes(to: $0) }   // little-endian host
            return Tensor(shape: shape, data: values)
        }
    }
    struct Case: Decodable {
        let kind: String
        let name: String
        let stride: Int?, padding: Int?, dilation: Int?, groups: Int?, kernel: Int?
        let activation: String?
        let ceil: Bool?
        let x: Blob
        let y: Blob
        let weight: Blob?, bias: Blob?, gamma: Blob?, beta: Blob?, mean: Blob?, variance: Blob?
    }
    let generator: String
    let cases: [Case]

    static func load() throws -> GoldenFile {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw CocoaError(.fileNoSuchFile)
        }
        let data = try Data(contentsOf: dir.appendingPathComponent("tensor_golden.json"))
        return try JSONDecoder().decode(GoldenFile.self, from: data)
    }
}
