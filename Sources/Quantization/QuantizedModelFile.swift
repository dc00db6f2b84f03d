import Checkpoints
import Foundation
import SSD
import Tensors

/// The quantized model file written by `mpq quantize --out` (safetensors).
///
/// Per quantized conv `<name>` (row-major, little-endian):
/// - `<name>.codes`  int8  `[R, d]`: the integer codes, `R = Σ_c n_c` rows (the points of channel 0, then
///   channel 1, …), `d` = patch length `(C/groups)·kh·kw`;
/// - `<name>.scales` f32   `[R]`: one scale per row; the weight of channel `c` is `Σ_{rows r of c} scales[r]·codes[r]`;
/// - `<name>.points` int32 `[O]`: the number of rows (points) of each output channel;
/// - `<name>.shape`  int64 `[4]`: the original weight shape `[O, C/groups, kh, kw]`;
/// - `<name>.bias`   f32   `[O]` (BatchNorm folded);
/// - `<name>.act_range` f32 `[2]`: the input fake-quant range `[lo, hi]` (absent when activations stay float);
/// - `<name>.input_map` int32 `[C']` (OCS-split layers only): the codes' rows run over an expanded input whose
///   channel `t` is input channel `map[t]` (`d = C'·kh·kw`); the float weight sums the copies.
/// Mixed precision needs nothing more: every layer's codes are int8 whatever its width (metadata `layer_bits`
/// lists the widths, in `quantized_layers` order). Float (skipped) convs keep `<name>.weight` / `<name>.bias` as `SSDModel.foldedStateDict()` writes them, and so
/// do the non-conv tensors. `__metadata__`: format, method, wbits, abits, arch, source checkpoint SHA-256, toolkit
/// version, activation bits.
public enum QuantizedModelFile {
    public static let format = "mpq-quantized-v1"

    public static func stateDict(_ q: QuantizedModel, method: String, wbits: Int, abits: Int, sourceSHA256: String,
                          version: String) -> StateDict {
        let quantized = Set(q.layers.map(\.name))
        var dict = StateDict()
        let folded = q.model.foldedStateDict()
        for key in folded.keys {
            // A quantized conv's float weight is replaced by its codes (its bias is written below).
            let layer = key.hasSuffix(".weight") ? String(key.dropLast(7)) : key.hasSuffix(".bias")
                ? String(key.dropLast(5)) : ""
            if quantized.contains(layer) { continue }
            if let t = folded[key] { dict.set(key, t) }
        }
        for l in q.layers {
            let w = l.weights
            dict.set(l.name + ".codes", StoredTensor(int8s: w.codes, shape: [w.rowCount, w.dimension]))
            dict.set(l.name + ".scales", StoredTensor(floats: w.scales, shape: [w.rowCount]))
            dict.set(l.name + ".points", StoredTensor(int32s: w.pointCounts.map { Int32($0) }, shape: [w.channels]))
            dict.set(l.name + ".shape", StoredTensor(int64s: l.weightShape.map { Int64($0) },
                                                     shape: [l.weightShape.count]))
            dict.set(l.name + ".bias", StoredTensor(floats: l.bias, shape: [l.bias.count]))
            if let map = l.inputChannelMap {
                dict.set(l.name + ".input_map", StoredTensor(int32s: map.map { Int32($0) }, shape: [map.count]))
            }
            if let a = l.activation {
                dict.set(l.name + ".act_range", StoredTensor(floats: [a.isUnsigned ? 0 : -a.clip, a.clip], shape: [2]))
            }
        }
        dict.metadata = folded.metadata
        dict.metadata["format"] = format
        dict.metadata["method"] = method
        dict.metadata["wbits"] = "\(wbits)"
        dict.metadata["abits"] = "\(abits)"
        dict.metadata["arch"] = q.model.architecture.rawValue
        dict.metadata["source_sha256"] = sourceSHA256
        dict.metadata["toolkit_version"] = version
        dict.metadata["quantized_layers"] = q.layers.map(\.name).joined(separator: ",")
        dict.metadata["layer_bits"] = q.layers.map { "\($0.weights.grid.bits)" }.joined(separator: ",")
        return dict
    }

    /// Loads any model file for `mpq detect` / `mpq evaluate`: a quantized file gives its reconstructed weights
    /// (Σ a·q) and the fake quantization of each quantized conv's input on its saved range at the saved `abits`.
    public static func load(_ url: URL, architecture: Architecture?) throws
        -> (model: SSDModel, format: CheckpointFormat, quantization: InputQuantization?) {
        let (dict, format) = try Checkpoint.load(url)
        guard dict.isQuantizedModel else {
            return (try SSDModel(loading: dict, file: url.path, architecture: architecture), format, nil)
        }
        let (floats, ranges) = try dict.dequantized(file: url.path)
        let model = try SSDModel(loading: floats, file: url.path, architecture: architecture)
        guard !ranges.isEmpty else { return (model, format, nil) }
        guard let bits = dict.metadata["abits"].flatMap(Int.init) else {
            throw CheckpointError.malformedTensor(file: url.path, key: "__metadata__.abits",
                                                  problem: "missing or not an integer")
        }
        var quantizers: [String: ActivationQuantizer] = [:]
        for (name, range) in ranges {
            guard range.count == 2 else {
                throw CheckpointError.malformedTensor(file: url.path, key: name + ".act_range",
                                                      problem: "expected [lo, hi], got \(range.count) values")
            }
            do {
                // Written as [0, clip] (unsigned) or [-clip, clip]; -0 marks a signed zero clip.
                quantizers[name] = try ActivationQuantizer(bits: bits, clip: range[1], unsigned: range[0].sign == .plus)
            } catch {
                throw CheckpointError.malformedTensor(file: url.path, key: name + ".act_range", problem: "\(error)")
            }
        }
        return (model, format, CalibrationStatistics.inputQuantization(quantizers))
    }
}
