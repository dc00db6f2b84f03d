import Foundation
import Quantization

/// SplitMix64: a tiny seeded generator so every random test is reproducible from its seed.
struct SeededRNG: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Standard normal (Box–Muller).
    mutating func gaussian() -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let v = Double.random(in: 0..<1, using: &self)
        return (-2 * _log(u)).squareRoot() * _cos(2 * Double.pi * v)
    }

    mutating func gaussianFloats(_ n: Int, scale: Double = 1) -> [Float] {
        (0..<n).map { _ in Float(gaussian() * scale) }
    }
}

@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }

/// `||r - a q||²` in Double.
func squaredError(_ r: [Double], scale a: Double, codes q: [Int8]) -> Double {
    var s = 0.0
    for j in 0..<r.count { let e = r[j] - a * Double(q[j]); s += e * e }
    return s
}

func squaredNorm(_ r: [Double]) -> Double { r.reduce(0) { $0 + $1 * $1 } }

/// `vᵀ H v`, summed naively in Double.
func quadraticForm(_ v: [Double], _ gram: GramMatrix) -> Double {
    let d = v.count
    var e = 0.0
    for i in 0..<d { for j in 0..<d { e += v[i] * gram.values[i * d + j] * v[j] } }
    return e
}

/// e = δᵀ H δ with δ = w - ŵ^(n) recomputed naively (points from the fixed-count quantizer, summed in Double
/// from the stored fp32 scales and codes).
func multipointOutputError(_ w: [Float], points n: Int, first: MultipointFirstPoint, grid: QuantGrid,
                           gram: GramMatrix) throws -> Double {
    let d = w.count
    let q = try WeightQuantizer.quantize(weights: w, channels: 1, dimension: d, grid: grid,
                                         method: .multipoint(points: n, first: first), threads: 1)
    var delta = w.map { Double($0) }
    for i in 0..<n { for j in 0..<d { delta[j] -= Double(q.scales[i]) * Double(q.codes[i * d + j]) } }
    return quadraticForm(delta, gram)
}
