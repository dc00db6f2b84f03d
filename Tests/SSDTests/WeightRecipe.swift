import Foundation
@testable import SSD

/// The deterministic "recipe" weights of Scripts/gen_ssd_fixtures.py, reproduced bit for bit:
/// per key, seed = FNV-1a 64 of its UTF-8 bytes; value i = offset + scale * u_i (float32 arithmetic) with
/// u_i = float32(splitmix64_i(seed) >> 40) / 2^23 - 1 in [-1, 1) (or |u_i| for kind "absu").
struct WeightRecipe: NamedTensorSource {
    struct Entry: Decodable {
        let key: String
        let shape: [Int]
        let kind: String
        let scale: Double
        let offset: Double
    }

    struct File: Decodable {
        let arch: String
        let num_classes: Int
        let width_mult: Double
        let tensors: [Entry]
        let checks: [String: [Double]]
    }

    let file: File
    private let index: [String: Int]

    init(url: URL) throws {
        file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        index = Dictionary(uniqueKeysWithValues: file.tensors.enumerated().map { ($1.key, $0) })
    }

    var tensorNames: [String] { file.tensors.map(\.key) }

    func shape(of name: String) -> [Int]? { index[name].map { file.tensors[$0].shape } }

    func floatValues(of name: String) throws -> [Float] {
        guard let i = index[name] else { throw CocoaError(.fileReadNoSuchFile) }
        let e = file.tensors[i]
        let n = e.shape.reduce(1, *)
        if e.kind == "zero" { return [Float](repeating: 0, count: n) }
        return Self.values(key: e.key, count: n, scale: Float(e.scale), offset: Float(e.offset), absolute: e.kind == "absu")
    }

    static func fnv1a64(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    static func values(key: String, count: Int, scale: Float, offset: Float, absolute: Bool) -> [Float] {
        let seed = fnv1a64(key)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                var z = seed &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                var u = Float(z >> 40) / 8_388_608 - 1
                if absolute { u = abs(u) }
                let scaled = scale * u
                buffer[i] = offset + scaled
            }
            initialized = count
        }
    }
}

/// Names and shapes from reference/keys/*.txt (`name [d0, d1, ...]`), values all zero: enough to check that
/// the loader accepts exactly the real key layout.
struct ShapeOnlySource: NamedTensorSource {
    let tensorNames: [String]
    let shapes: [String: [Int]]

    init(keysFile url: URL) throws {
        var names: [String] = [], shapes: [String: [Int]] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") where !line.isEmpty {
            guard let space = line.firstIndex(of: " ") else { continue }
            let name = String(line[..<space])
            let dims = line[line.index(after: space)...].filter { !"[] ".contains($0) }.split(separator: ",")
            names.append(name)
            shapes[name] = dims.compactMap { Int($0) }
        }
        tensorNames = names
        self.shapes = shapes
    }

    func shape(of name: String) -> [Int]? { shapes[name] }
    func floatValues(of name: String) throws -> [Float] {
        [Float](repeating: name.hasSuffix("running_var") ? 1 : 0, count: shapes[name]?.reduce(1, *) ?? 0)
    }
}

/// A source that edits another: drop keys, override shapes (values follow the new shape), add keys.
struct EditedSource: NamedTensorSource {
    let base: any NamedTensorSource
    var removed: Set<String> = []
    var reshaped: [String: [Int]] = [:]
    var added: [String: [Int]] = [:]

    var tensorNames: [String] { base.tensorNames.filter { !removed.contains($0) } + added.keys.sorted() }
    func shape(of name: String) -> [Int]? {
        if removed.contains(name) { return nil }
        return reshaped[name] ?? added[name] ?? base.shape(of: name)
    }
    func floatValues(of name: String) throws -> [Float] {
        if let s = reshaped[name] ?? added[name] { return [Float](repeating: 0.5, count: s.reduce(1, *)) }
        return try base.floatValues(of: name)
    }
}
