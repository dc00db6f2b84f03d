import Checkpoints
import Foundation
import SSD

/// The facts `mpq inspect` reports: what the file says, plus the SSD architecture and class count recognised
/// from its keys and head shapes (nil when the keys match no supported detector).
public struct CheckpointReport: Encodable {
    /// The report of the checkpoint or quantized model file at `path` (read, never run).
    public static func inspect(_ path: String) throws -> CheckpointReport {
        let url = URL(fileURLWithPath: path)
        let (dict, format) = try Checkpoint.load(url)
        var report = CheckpointReport(file: path, format: format, dict: dict)
        if QuantizedFile.isQuantized(dict) {
            let file = try QuantizedFile(reading: dict, file: path)
            report.quantizedLayers = file.convs.map { .init($0, bytes: file.storedBytes(of: $0)) }
            report.quantizedBytes = report.quantizedLayers?.reduce(0) { $0 + $1.bytes }
            let loaded = try QuantizedFile.load(url)
            report.architecture = loaded.model.architecture.rawValue
            report.classes = loaded.model.classes
        }
        return report
    }

    struct Tensor: Encodable {
        let name: String
        let dtype: String
        let shape: [Int]
        let count: Int
    }

    let file: String
    let format: String
    let tensorCount: Int
    let parameterCount: Int
    let bytes: Int
    let dtypes: [String: Int]
    let metadata: [String: String]
    let tensors: [Tensor]
    /// `mb2-ssd-lite`, `mb1-ssd`, `vgg16-ssd` or `ssd300-vgg16`, from the key layout.
    var architecture: String?
    /// Classes including background, from the last classification head's shape.
    var classes: Int?

    /// One quantized conv of a quantized model file.
    struct QuantizedLayer: Encodable {
        let name: String
        let bits: Int
        let channels: Int
        let rows: Int
        /// Points per channel → channels with that many.
        let points: [String: Int]
        let avgBits: Double
        let abits: Int?
        let ocs: Bool
        let bytes: Int

        init(_ c: QuantizedConv, bytes: Int) {
            name = c.name
            bits = c.bits
            channels = c.outputChannels
            rows = c.rows
            points = Dictionary(c.pointCounts.map { (String($0), 1) }, uniquingKeysWith: +)
            avgBits = Double(c.bits * c.rows) / Double(max(c.outputChannels, 1))
            abits = c.activation?.bits
            ocs = c.inputChannelMap != nil
            self.bytes = bytes
        }

        enum CodingKeys: String, CodingKey {
            case name, bits, channels, rows, points, abits, ocs, bytes
            case avgBits = "avg_bits"
        }
    }

    var quantizedLayers: [QuantizedLayer]?
    var quantizedBytes: Int?

    enum CodingKeys: String, CodingKey {
        case file, format, bytes, dtypes, metadata, tensors, architecture, classes
        case tensorCount = "tensor_count", parameterCount = "parameter_count"
        case quantizedLayers = "quantized_layers", quantizedBytes = "quantized_bytes"
    }

    init(file: String, format: CheckpointFormat, dict: StateDict) {
        self.file = file
        self.format = format.rawValue
        var tensors: [Tensor] = []
        var dtypes: [String: Int] = [:]
        var bytes = 0
        for key in dict.keys {
            guard let t = dict[key] else { continue }
            tensors.append(Tensor(name: key, dtype: t.dtype.rawValue, shape: t.shape, count: t.count))
            dtypes[t.dtype.rawValue, default: 0] += 1
            bytes += t.byteCount
        }
        self.tensors = tensors
        self.tensorCount = tensors.count
        self.parameterCount = dict.parameterCount
        self.bytes = bytes
        self.dtypes = dtypes
        self.metadata = dict.metadata
        let arch = Architecture.detect(keys: dict.keys)
        architecture = arch?.rawValue
        classes = arch.flatMap { $0.classCount(headShape: dict[$0.lastClassificationHeadKey]?.shape) }
    }

    /// The human-readable form: a summary, then one aligned line per tensor.
    public func text() -> String {
        var lines = [
            "file:       \(file)",
            "format:     \(format)",
            "tensors:    \(tensorCount) (" + dtypes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
                .joined(separator: ", ") + ")",
            "parameters: \(parameterCount) (\(String(format: "%.2f", Double(parameterCount) / 1e6)) M, "
                + "\(String(format: "%.1f", Double(bytes) / 1_048_576)) MiB)",
        ]
        if let architecture {
            lines.append("model:      \(architecture), \(classes.map { "\($0) classes (background included)" } ?? "class count unknown")")
        } else {
            lines.append("model:      not a recognised SSD layout (mb2-ssd-lite, mb1-ssd, vgg16-ssd, ssd300-vgg16)")
        }
        if !metadata.isEmpty {
            // Per-layer lists (a quantized file's layer names and widths) are shown in the layer table instead.
            lines.append("metadata:   " + metadata.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.count > 100 ? "(\($0.value.count) characters)" : $0.value)" }
                .joined(separator: ", "))
        }
        if let layers = quantizedLayers {
            let width = min(layers.map(\.name.count).max() ?? 0, 60)
            lines.append("")
            lines.append("quantized layers: \(layers.count), \(quantizedBytes ?? 0) bytes")
            lines.append("  " + "layer".padding(toLength: width, withPad: " ", startingAt: 0)
                + "  bits  channels   rows  avg bits  abits  points (n: channels)        bytes")
            for l in layers {
                let points = l.points.sorted { Int($0.key)! < Int($1.key)! }.map { "\($0.key): \($0.value)" }
                    .joined(separator: ", ") + (l.ocs ? " (OCS)" : "")
                lines.append("  " + l.name.padding(toLength: max(width, l.name.count), withPad: " ", startingAt: 0)
                    + String(format: "  %4d  %8d  %5d  %8.3f  %5@  %-26@ %6d", l.bits, l.channels, l.rows, l.avgBits,
                             (l.abits.map(String.init) ?? "float") as NSString, points as NSString, l.bytes))
            }
        }
        let nameWidth = min(tensors.map(\.name.count).max() ?? 0, 60)
        lines.append("")
        for t in tensors {
            let name = t.name.padding(toLength: max(nameWidth, t.name.count), withPad: " ", startingAt: 0)
            let dtype = t.dtype.padding(toLength: 8, withPad: " ", startingAt: 0)
            lines.append("  \(name)  \(dtype)  [\(t.shape.map(String.init).joined(separator: ", "))]")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
