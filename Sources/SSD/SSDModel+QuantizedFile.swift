import Checkpoints
import Foundation

/// Reading the quantized model files written by `mpq quantize --out` (`__metadata__.format = mpq-quantized-v1`).
///
/// Each quantized conv `<name>` is stored as `<name>.codes` int8 `[R, d]`, `<name>.scales` f32 `[R]`,
/// `<name>.points` int32 `[O]` (rows per output channel, `Σ points = R`), `<name>.shape` int64 `[4]` and
/// `<name>.bias`; the weight of channel `c` is `Σ_{rows r of c} scales[r] · codes[r, :]` (`d = (C/groups)·kh·kw`).
/// The optional `<name>.act_range` `[lo, hi]` is the activation fake-quant range: it is not part of the float
/// network and is returned separately. An outlier-channel-split (OCS) conv also has `<name>.input_map` int32
/// `[C']`: its codes are `[R, C'·kh·kw]` over the expanded input, whose channel `t` is input channel `map[t]`,
/// and the float weight sums the copies (`QuantizedConvWeights.reconstruct`).
extension StateDict {
    public static let quantizedFormat = "mpq-quantized-v1"

    /// Whether this dict is a quantized model file.
    public var isQuantizedModel: Bool { metadata["format"] == Self.quantizedFormat }

    /// The dict with every quantized conv's codes replaced by its reconstructed float `<name>.weight` and the
    /// activation ranges removed (they are returned as `ranges`, conv name → `[lo, hi]`).
    /// - Throws: `CheckpointError.malformedTensor` naming `file` and the key when the parts do not fit together.
    public func dequantized(file: String) throws -> (dict: StateDict, ranges: [String: [Float]]) {
        var out = StateDict()
        out.metadata = metadata
        var ranges: [String: [Float]] = [:]
        let suffixes = [".codes", ".scales", ".points", ".shape", ".act_range", ".input_map"]
        for key in keys {
            if let range = key.hasSuffix(".act_range") ? self[key] : nil {
                ranges[String(key.dropLast(10))] = try range.floats()
            }
            if suffixes.contains(where: { key.hasSuffix($0) }) {
                if key.hasSuffix(".codes") {
                    let name = String(key.dropLast(6))
                    out.set(name + ".weight", try reconstructedWeight(name, file: file))
                }
                continue
            }
            if let t = self[key] { out.set(key, t) }
        }
        return (out, ranges)
    }

    private func reconstructedWeight(_ name: String, file: String) throws -> StoredTensor {
        func part(_ suffix: String) throws -> StoredTensor {
            guard let t = self[name + suffix] else {
                throw CheckpointError.malformedTensor(file: file, key: name + suffix, problem: "missing")
            }
            return t
        }
        let codesTensor = try part(".codes")
        let codes = try codesTensor.int8s()
        let scales = try part(".scales").floats()
        let points = try part(".points").int64s().map(Int.init)
        let shape = try part(".shape").int64s().map(Int.init)
        let bad = { (problem: String) in CheckpointError.malformedTensor(file: file, key: name + ".codes", problem: problem) }
        guard codesTensor.shape.count == 2, shape.count == 4, shape.allSatisfy({ $0 > 0 }) else {
            throw bad("codes must be [rows, d] and shape 4 positive sizes")
        }
        let map = try self[name + ".input_map"].map { try $0.int64s().map(Int.init) }
        let rows = codesTensor.shape[0], d = codesTensor.shape[1], kernel = shape[2] * shape[3]
        guard scales.count == rows, points.allSatisfy({ $0 >= 1 }), points.reduce(0, +) == rows,
              points.count == shape[0], d == (map?.count ?? shape[1]) * kernel else {
            throw bad("codes \(codesTensor.shape), \(scales.count) scales, points summing to \(points.reduce(0, +)) "
                + "over \(points.count) channels, weight shape \(shape) and input map of \(map?.count ?? 0) channels do "
                + "not fit together")
        }
        if let map, !map.allSatisfy({ (0..<shape[1]).contains($0) }) {
            throw CheckpointError.malformedTensor(file: file, key: name + ".input_map",
                                                  problem: "entries must be input channels 0..<\(shape[1])")
        }
        let weight = QuantizedConvWeights.reconstruct(codes: codes, scales: scales, pointCounts: points, rowLength: d,
                                                      inputChannels: shape[1], kernelSize: kernel,
                                                      inputChannelMap: map)
        return StoredTensor(floats: weight, shape: shape)
    }
}

/// The weight formula of quantized convs, in one place for the quantizer (`QuantizedWeights`) and the file
/// loader, so a saved model loads back to exactly the weights that were scored.
public enum QuantizedConvWeights {
    /// `ŵ[c, j, i] = Σ_{rows r of c, in order} scales[r] · Σ_{t : map[t] = j} codes[r, t, i]` as `[C, C_in·k]`
    /// (`k = kh·kw`): the copies of a split input channel are summed as integers, then scaled once in Float; the
    /// rows of a channel are accumulated in Float in point order. Without a map `t = j` (`rowLength = C_in·k`).
    /// - Parameters:
    ///   - codes: `[Σ pointCounts, rowLength]` row-major.
    ///   - inputChannelMap: `[C']` with `rowLength = C'·k`, or nil.
    public static func reconstruct(codes: [Int8], scales: [Float], pointCounts: [Int], rowLength: Int,
                                   inputChannels: Int, kernelSize k: Int, inputChannelMap map: [Int]?) -> [Float] {
        let d = inputChannels * k
        precondition(rowLength == (map?.count ?? inputChannels) * k && codes.count == scales.count * rowLength,
                     "codes must be [rows, \((map?.count ?? inputChannels) * k)]")
        var out = [Float](repeating: 0, count: pointCounts.count * d)
        var sums = [Int32](repeating: 0, count: d)
        var row = 0
        for (c, n) in pointCounts.enumerated() {
            for _ in 0..<n {
                let a = scales[row], base = row * rowLength
                if let map {
                    for j in 0..<d { sums[j] = 0 }
                    for (t, j) in map.enumerated() {
                        for i in 0..<k { sums[j * k + i] += Int32(codes[base + t * k + i]) }
                    }
                    for j in 0..<d { out[c * d + j] += a * Float(sums[j]) }
                } else {
                    for j in 0..<d { out[c * d + j] += a * Float(codes[base + j]) }
                }
                row += 1
            }
        }
        return out
    }
}
