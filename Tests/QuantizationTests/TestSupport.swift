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
