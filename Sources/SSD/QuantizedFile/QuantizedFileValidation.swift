import Checkpoints
import Foundation
import SafeIO
import VOC

// Every rule a quantized model file must pass before anything in it is used, in one place. A failure is one line
// naming the file, the key and the rule (`CheckpointError.malformedTensor`); docs/formats.md lists the rules.

extension QuantizedFile {
    /// The metadata keys a quantized file may hold; any other key is refused (a file from a newer or foreign tool).
    static let knownMetadata: Set<String> = [
        "format", "method", "wbits", "abits", "arch", "architecture", "batchnorm", "source_sha256", "toolkit_version",
        "quantized_layers", "layer_bits", "class_names", "preprocessing",
    ]
    static let layerSuffixes = [".codes", ".scales", ".points", ".shape", ".bias", ".act_range", ".input_map"]

    /// Reads and validates a quantized model file (format v1 or v2).
    ///
    /// Rules, each refused with the file, the key and the rule: metadata keys known, `wbits` in 2…8, `abits` in
    /// 2…8 or 32, one width in 2…8 per listed layer; every listed layer has all its parts and no part belongs to
    /// an unlisted layer, and no listed layer also stores a float `.weight`; shape = 4 positive sizes of at most
    /// `InputLimits.maxQuantizedDimension` whose weight and codes stay within `InputLimits.maxTensorElements`;
    /// points 1…`maxQuantizedPoints` per output channel, `[O]`, summing to the rows;
    /// codes of exactly `rows × rowLength` values, each within `±(2^(b−1) − 1)`; scales finite and ≥ 0, a zero
    /// scale only on an all-zero row; bias `[O]` and finite; an act_range `[lo, hi]` finite with `hi ≥ 0` and
    /// `lo ∈ {0, −hi}`, present on every layer when `abits < 32` and absent otherwise; an input map starts with
    /// every input channel in order (`0..<C`, the identity) followed by split copies, each an input channel.
    public init(reading dict: StateDict, file: String) throws {
        func fail(_ key: String, _ problem: String) -> CheckpointError {
            CheckpointError.malformedTensor(file: file, key: key, problem: problem)
        }
        let meta = dict.metadata
        for key in meta.keys.sorted() where !Self.knownMetadata.contains(key) {
            throw fail("__metadata__." + key, "unknown metadata field (known: \(Self.knownMetadata.sorted().joined(separator: ", ")))")
        }
        guard let version = meta["format"], version == Self.format || version == Self.legacyFormat else {
            throw fail("__metadata__.format", "expected \(Self.format) or \(Self.legacyFormat)")
        }
        func integer(_ key: String, _ allowed: (Int) -> Bool, _ rule: String) throws -> Int {
            guard let v = meta[key].flatMap(Int.init), allowed(v) else {
                throw fail("__metadata__." + key, "\(meta[key].map { "'\($0)'" } ?? "missing"): must be \(rule)")
            }
            return v
        }
        let wbits = try integer("wbits", { (2...8).contains($0) }, "an integer in 2...8")
        let abits = try integer("abits", { (2...8).contains($0) || $0 == 32 }, "an integer in 2...8, or 32 (float)")
        let names = (meta["quantized_layers"] ?? "").split(separator: ",").map(String.init)
        let widths = (meta["layer_bits"] ?? "").split(separator: ",").map { Int($0) }
        guard widths.count == names.count, widths.allSatisfy({ $0.map { (2...8).contains($0) } ?? false }) else {
            throw fail("__metadata__.layer_bits", "must list one width in 2...8 per quantized layer (\(names.count))")
        }
        guard Set(names).count == names.count else {
            throw fail("__metadata__.quantized_layers", "lists a layer twice")
        }
        var classNames: [String]?
        if let text = meta["class_names"] {
            guard let list = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String], !list.isEmpty else {
                throw fail("__metadata__.class_names", "must be a JSON array of class names")
            }
            classNames = list
        }
        if let p = meta["preprocessing"], PreprocessPreset(rawValue: p) == nil {
            throw fail("__metadata__.preprocessing", "'\(p)' is not one of \(PreprocessPreset.allCases.map { $0.rawValue })")
        }
        let listed = Set(names)
        var floats = StateDict()
        for key in dict.keys {
            if let suffix = Self.layerSuffixes.first(where: key.hasSuffix) {
                let layer = String(key.dropLast(suffix.count))
                if listed.contains(layer) { continue }
                if suffix != ".bias" {
                    throw fail(key, "belongs to no layer of __metadata__.quantized_layers")
                }
            }
            if key.hasSuffix(".weight"), listed.contains(String(key.dropLast(7))) {
                throw fail(key, "a quantized layer must not also store a float weight")
            }
            if let t = dict[key] { floats.set(key, t) }
        }
        var convs: [QuantizedConv] = []
        for (name, width) in zip(names, widths) {
            convs.append(try Self.readConv(name, bits: width ?? 0, abits: abits, packed: version == Self.format,
                                           dict: dict, fail: fail))
        }
        self = QuantizedFile(info: Info(method: meta["method"] ?? "", wbits: wbits, abits: abits,
                             architecture: meta["arch"] ?? meta["architecture"] ?? "",
                             sourceSHA256: meta["source_sha256"] ?? "", toolkitVersion: meta["toolkit_version"] ?? "",
                             classNames: classNames, preprocessing: meta["preprocessing"]),
                  convs: convs, floats: floats)
        self.formatVersion = version
    }

    private static func readConv(_ name: String, bits: Int, abits: Int, packed: Bool, dict: StateDict,
                                 fail: (String, String) -> CheckpointError) throws -> QuantizedConv {
        func part(_ suffix: String) throws -> StoredTensor {
            guard let t = dict[name + suffix] else { throw fail(name + suffix, "missing") }
            return t
        }
        func values<T>(_ suffix: String, _ read: (StoredTensor) throws -> [T]) throws -> [T] {
            let t = try part(suffix)
            guard t.shape.count == 1 else { throw fail(name + suffix, "must be one-dimensional, got shape \(t.shape)") }
            do { return try read(t) } catch { throw fail(name + suffix, "\(error)") }
        }
        let shape = try values(".shape") { try $0.int64s() }.map(Int.init)
        guard shape.count == 4, shape.allSatisfy({ $0 > 0 && $0 <= InputLimits.maxQuantizedDimension }) else {
            throw fail(name + ".shape", "must be 4 positive sizes [O, C/groups, kh, kw] of at most "
                + "\(InputLimits.maxQuantizedDimension), got \(shape)")
        }
        if let problem = InputLimits.tensorElementsProblem(shape) { throw fail(name + ".shape", problem) }
        let points = try values(".points") { try $0.int64s() }.map(Int.init)
        guard points.count == shape[0] else {
            throw fail(name + ".points", "\(points.count) entries for \(shape[0]) output channels")
        }
        guard points.allSatisfy({ (1...InputLimits.maxQuantizedPoints).contains($0) }) else {
            throw fail(name + ".points", "every output channel needs 1 to \(InputLimits.maxQuantizedPoints) points")
        }
        let rows = points.reduce(0, +)
        let scales = try values(".scales") { try $0.floats() }
        guard scales.count == rows else { throw fail(name + ".scales", "\(scales.count) scales for \(rows) rows (Σ points)") }
        if let bad = scales.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            throw fail(name + ".scales", "scale \(bad) is \(scales[bad]): scales must be finite and ≥ 0")
        }
        let bias = try values(".bias") { try $0.floats() }
        guard bias.count == shape[0] else { throw fail(name + ".bias", "\(bias.count) values for \(shape[0]) channels") }
        if let bad = bias.firstIndex(where: { !$0.isFinite }) {
            throw fail(name + ".bias", "bias \(bad) is \(bias[bad]): biases must be finite")
        }
        var map: [Int]?
        if dict[name + ".input_map"] != nil {
            let m = try values(".input_map") { try $0.int64s() }.map(Int.init)
            guard !m.isEmpty, m.allSatisfy({ (0..<shape[1]).contains($0) }) else {
                throw fail(name + ".input_map", "entries must be input channels 0..<\(shape[1])")
            }
            guard m.count >= shape[1], m.prefix(shape[1]).elementsEqual(0..<shape[1]) else {
                throw fail(name + ".input_map", "must start with every input channel in order (0..<\(shape[1])), "
                    + "then the split copies")
            }
            map = m
        }
        // rows × rowLength codes, overflow-checked (rows ≤ 64·O and rowLength ≤ C'·kh·kw are each bounded).
        guard let rowLength = checkedProduct([map?.count ?? shape[1], shape[2], shape[3]]),
              let codeCount = checkedProduct([rows, rowLength]), codeCount <= InputLimits.maxTensorElements else {
            throw fail(name + ".codes", "\(rows) rows of \((map?.count ?? shape[1])) × \(shape[2]) × \(shape[3]) codes "
                + "exceed the limit of \(InputLimits.maxTensorElements) elements")
        }
        let codesTensor = try part(".codes")
        let codes: [Int8]
        if packed {
            guard codesTensor.dtype == .uint8, codesTensor.shape.count == 1,
                  codesTensor.shape == [CodePacking.byteCount(codes: codeCount, bits: bits)],
                  let unpacked = CodePacking.unpack((try? codesTensor.uint8s()) ?? [], count: codeCount, bits: bits)
            else {
                throw fail(name + ".codes", "expected \(CodePacking.byteCount(codes: codeCount, bits: bits)) "
                    + "packed uint8 bytes (\(rows) rows × \(rowLength) codes at \(bits) bits, padding bits zero), got "
                    + "\(codesTensor.dtype.rawValue) \(codesTensor.shape)")
            }
            codes = unpacked
        } else {
            guard codesTensor.shape == [rows, rowLength], let c = try? codesTensor.int8s() else {
                throw fail(name + ".codes", "expected int8 [\(rows), \(rowLength)] (rows × (C'·kh·kw)), got "
                    + "\(codesTensor.dtype.rawValue) \(codesTensor.shape)")
            }
            codes = c
        }
        let limit = Int8((1 << (bits - 1)) - 1)
        if let bad = codes.firstIndex(where: { $0 > limit || $0 < -limit }) {
            throw fail(name + ".codes", "code \(codes[bad]) at row \(bad / rowLength) exceeds the layer's \(bits)-bit "
                + "grid ±\(limit)")
        }
        for (r, s) in scales.enumerated() where s == 0 {
            if codes[(r * rowLength)..<((r + 1) * rowLength)].contains(where: { $0 != 0 }) {
                throw fail(name + ".scales", "row \(r) has scale 0 but nonzero codes")
            }
        }
        var activation: QuantizedConv.ActivationGrid?
        if let rangeTensor = dict[name + ".act_range"] {
            guard abits < 32 else { throw fail(name + ".act_range", "present although __metadata__.abits is 32 (float)") }
            let r = try values(".act_range") { try $0.floats() }
            guard r.count == 2, r[0].isFinite, r[1].isFinite, r[1] >= 0, r[0] == 0 || r[0] == -r[1] else {
                throw fail(name + ".act_range", "must be [0, clip] or [-clip, clip] with a finite clip ≥ 0, got \(r)")
            }
            _ = rangeTensor
            // Written as [0, clip] (unsigned) or [-clip, clip]; -0 marks a signed zero clip.
            activation = .init(bits: abits, clip: r[1], unsigned: r[0].sign == .plus)
        } else if abits < 32 {
            throw fail(name + ".act_range", "missing although __metadata__.abits is \(abits)")
        }
        return QuantizedConv(name: name, bits: bits, weightShape: shape, pointCounts: points, scales: scales,
                             codes: codes, bias: bias, inputChannelMap: map, activation: activation)
    }
}

/// The product of `factors` (all ≥ 0), or nil when it overflows `Int`.
private func checkedProduct(_ factors: [Int]) -> Int? {
    var n = 1
    for f in factors {
        let (m, overflow) = n.multipliedReportingOverflow(by: f)
        if overflow { return nil }
        n = m
    }
    return n
}
