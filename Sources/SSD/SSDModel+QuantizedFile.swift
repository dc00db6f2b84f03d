import Checkpoints
import Foundation

/// Reading the quantized model files written by `mpq quantize --out` (`__metadata__.format = mpq-quantized-v1`).
///
/// Each quantized conv `<name>` is stored as `<name>.codes` int8 `[R, d]`, `<name>.scales` f32 `[R]`,
/// `<name>.points` int32 `[O]` (rows per output channel, `Σ points = R`), `<name>.shape` int64 `[4]` and
/// `<name>.bias`; the weight of channel `c` is `Σ_{rows r of c} scales[r] · codes[r, :]` (`d = (C/groups)·kh·kw`).
/// The optional `<name>.act_range` `[lo, hi]` is the activation fake-quant range: it is not part of the float
/// network and is returned separately.
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
        let suffixes = [".codes", ".scales", ".points", ".shape", ".act_range"]
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
        let rows = codesTensor.shape[0], d = codesTensor.shape[1]
        guard scales.count == rows, points.allSatisfy({ $0 >= 1 }), points.reduce(0, +) == rows,
              points.count == shape[0], d == shape[1] * shape[2] * shape[3] else {
            throw bad("codes \(codesTensor.shape), \(scales.count) scales, points summing to \(points.reduce(0, +)) "
                + "over \(points.count) channels and weight shape \(shape) do not fit together")
        }
        var weight = [Float](repeating: 0, count: points.count * d)
        var row = 0
        for (c, n) in points.enumerated() {
            for _ in 0..<n {
                let a = scales[row]
                for j in 0..<d { weight[c * d + j] += a * Float(codes[row * d + j]) }
                row += 1
            }
        }
        return StoredTensor(floats: weight, shape: shape)
    }
}
