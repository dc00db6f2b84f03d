import Checkpoints
import Foundation

/// The quantized model file `mpq quantize --out` writes (safetensors), read and written in one place.
///
/// Per quantized conv `<name>` (row-major, little-endian; see `QuantizedConv` for the meaning):
/// - `<name>.codes`: format v2 — uint8 `[ceil(R·d·b / 8)]`, the `[R, d]` codes packed at the layer's width `b`
///   (`CodePacking`); format v1 — int8 `[R, d]`;
/// - `<name>.scales` f32 `[R]`, `<name>.points` uint8 `[O]` (v1: int32; 1...64 each),
///   `<name>.shape` int64 `[4]` (`[O, C/groups, kh, kw]`), `<name>.bias` f32 `[O]`;
/// - `<name>.act_range` f32 `[2]` = `[0, clip]` (unsigned input grid) or `[-clip, clip]` (signed; `-0` marks a
///   signed zero clip), present when activations are quantized;
/// - `<name>.input_map` int32 `[C']` for OCS-split convs.
/// Float layers and the other tensors are stored as `SSDModel.foldedStateDict()` writes them. `__metadata__`:
/// `format`, `method`, `wbits`, `abits` (32 = float activations), `arch`, `quantized_layers` and `layer_bits`
/// (comma-separated, in the same order), `source_sha256`, `toolkit_version`, optionally `class_names` (JSON array,
/// background excluded) and `preprocessing` (the input preset), plus the folded dict's `architecture`/`batchnorm`.
///
/// Reading validates everything (`init(reading:file:)`): a bad file is refused naming the file, the key and the
/// broken rule; it never loads silently.
public struct QuantizedFile: Sendable {
    public static let format = "mpq-quantized-v2"
    public static let legacyFormat = "mpq-quantized-v1"

    /// What the file says about how it was made.
    public struct Info: Sendable, Equatable {
        public var method: String
        public var wbits: Int
        /// 32 when activations stay float.
        public var abits: Int
        public var architecture: String
        public var sourceSHA256: String
        public var toolkitVersion: String
        /// Class names without background, when the quantizer knew them.
        public var classNames: [String]?
        /// The preprocessing preset's name (`PreprocessPreset.rawValue`), when known.
        public var preprocessing: String?

        public init(method: String, wbits: Int, abits: Int, architecture: String, sourceSHA256: String,
                    toolkitVersion: String, classNames: [String]? = nil, preprocessing: String? = nil) {
            self.method = method
            self.wbits = wbits
            self.abits = abits
            self.architecture = architecture
            self.sourceSHA256 = sourceSHA256
            self.toolkitVersion = toolkitVersion
            self.classNames = classNames
            self.preprocessing = preprocessing
        }
    }

    public var info: Info
    /// The quantized convs, in `quantized_layers` order.
    public var convs: [QuantizedConv]
    /// Every other tensor (float convs' folded weights and biases, source normalisations).
    public var floats: StateDict
    /// The format version the file was read from (`format` for files made in memory).
    public internal(set) var formatVersion: String = QuantizedFile.format

    public init(info: Info, convs: [QuantizedConv], floats: StateDict) {
        self.info = info
        self.convs = convs
        self.floats = floats
    }

    /// Whether `dict` is a quantized model file (any `mpq-quantized-*` format: an unknown version is then refused by
    /// the reader naming `__metadata__.format`, not misread as a float checkpoint).
    public static func isQuantized(_ dict: StateDict) -> Bool {
        dict.metadata["format"]?.hasPrefix("mpq-quantized") ?? false
    }

    /// The float network's state dict: the float tensors plus every quantized conv's reconstructed weight and bias.
    public func floatStateDict() -> StateDict {
        var dict = floats
        dict.metadata = ["architecture": info.architecture, "batchnorm": "folded"]
        for conv in convs {
            dict.set(conv.name + ".weight", StoredTensor(floats: conv.reconstructedWeight, shape: conv.weightShape))
            dict.set(conv.name + ".bias", StoredTensor(floats: conv.bias, shape: [conv.bias.count]))
        }
        return dict
    }

    /// The fake quantization of the quantized convs' inputs; nil when activations stay float.
    public var inputQuantization: InputQuantization? {
        let grids = Dictionary(convs.compactMap { c in c.activation.map { (c.name, $0.grid) } },
                               uniquingKeysWith: { a, _ in a })
        return grids.isEmpty ? nil : InputQuantization(grids)
    }

    /// Bytes the file spends on each quantized conv (codes at their width, scales, points, shape, bias, range, map).
    public func storedBytes(of conv: QuantizedConv) -> Int {
        CodePacking.byteCount(codes: conv.codes.count, bits: conv.bits) + 4 * conv.rows + 4 * conv.outputChannels
            + 8 * 4 + 4 * conv.bias.count + (conv.activation == nil ? 0 : 8) + 4 * (conv.inputChannelMap?.count ?? 0)
    }

    /// The file as a state dict in format v2 (codes packed at each layer's width).
    public func stateDict() -> StateDict {
        var dict = StateDict()
        for key in floats.keys { if let t = floats[key] { dict.set(key, t) } }
        for c in convs {
            let packed = CodePacking.pack(c.codes, bits: c.bits)
            dict.set(c.name + ".codes", StoredTensor(uint8s: packed, shape: [packed.count]))
            dict.set(c.name + ".scales", StoredTensor(floats: c.scales, shape: [c.rows]))
            dict.set(c.name + ".points", StoredTensor(uint8s: c.pointCounts.map { UInt8($0) }, shape: [c.outputChannels]))
            dict.set(c.name + ".shape", StoredTensor(int64s: c.weightShape.map { Int64($0) }, shape: [4]))
            dict.set(c.name + ".bias", StoredTensor(floats: c.bias, shape: [c.bias.count]))
            if let map = c.inputChannelMap {
                dict.set(c.name + ".input_map", StoredTensor(int32s: map.map { Int32($0) }, shape: [map.count]))
            }
            if let a = c.activation {
                dict.set(c.name + ".act_range", StoredTensor(floats: [a.isUnsigned ? 0 : -a.clip, a.clip], shape: [2]))
            }
        }
        var meta: [String: String] = [
            "format": Self.format, "method": info.method, "wbits": "\(info.wbits)", "abits": "\(info.abits)",
            "arch": info.architecture, "architecture": info.architecture, "batchnorm": "folded",
            "source_sha256": info.sourceSHA256, "toolkit_version": info.toolkitVersion,
            "quantized_layers": convs.map(\.name).joined(separator: ","),
            "layer_bits": convs.map { "\($0.bits)" }.joined(separator: ","),
        ]
        if let names = info.classNames,
           let json = try? JSONSerialization.data(withJSONObject: names), let text = String(data: json, encoding: .utf8) {
            meta["class_names"] = text
        }
        if let p = info.preprocessing { meta["preprocessing"] = p }
        dict.metadata = meta
        return dict
    }
}

extension QuantizedFile {
    /// Loads any model file mpq runs: a float checkpoint gives its model and nil; a quantized file gives the
    /// float model with its reconstructed weights (Σ a·q, the simulated form) and the validated file.
    /// - Throws: `CheckpointError` naming the file and key for unreadable or invalid files, `SSDModelError` for
    ///   tensors that do not fit the network.
    public static func load(_ url: URL, architecture: Architecture? = nil) throws
        -> (model: SSDModel, format: CheckpointFormat, quantized: QuantizedFile?) {
        let (dict, format) = try Checkpoint.load(url)
        guard isQuantized(dict) else {
            return (try SSDModel(loading: dict, file: url.path, architecture: architecture), format, nil)
        }
        let file = try QuantizedFile(reading: dict, file: url.path)
        let model = try SSDModel(loading: file.floatStateDict(), file: url.path, architecture: architecture)
        if let names = file.info.classNames, names.count != model.classes - 1 {
            throw CheckpointError.malformedTensor(file: url.path, key: "__metadata__.class_names",
                                                  problem: "\(names.count) names for a model with \(model.classes - 1) classes")
        }
        return (model, format, file)
    }
}
