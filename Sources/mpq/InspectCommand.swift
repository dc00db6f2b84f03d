import ArgumentParser
import Checkpoints
import Foundation
import SSD
import Workflows

/// `mpq inspect`: what a checkpoint file holds, without running anything from it.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint's format, tensors (name, dtype, shape), parameter count and metadata.",
        discussion: """
        Reads PyTorch .pth files (the zip format of PyTorch >= 1.6 and the legacy format before it) and \
        safetensors files; the format is detected from the file's first bytes, not its extension. Pickled \
        .pth files are interpreted by a restricted reader that only knows state-dict objects (OrderedDict, \
        tensor rebuild functions, storage types): any other Python global, such as os.system, is refused and \
        never executed. Wrappers such as {'state_dict': ...}, {'model': ...} or {'net': ...} are unwrapped \
        and a DataParallel "module." prefix is removed; scalar entries beside the state dict (epoch, ...) are \
        shown as metadata.

        JSON shape: {"file": "<path>", "format": "pytorchLegacy|pytorchZip|safetensors", "tensor_count": N, \
        "parameter_count": N, "bytes": N, "dtypes": {"float32": N, ...}, "metadata": {"k": "v"}, \
        "tensors": [{"name": "...", "dtype": "float32", "shape": [..], "count": N}], "architecture": \
        "mb2-ssd-lite|mb1-ssd|vgg16-ssd|ssd300-vgg16" (absent if not recognised), "classes": N (background \
        included)} with tensors in file order. A quantized model file (mpq quantize --out) is validated as \
        every command loads it and also gets "quantized_layers": [{"name", "bits", "channels", "rows", \
        "points": {"1": n, "2": n, ...}, "avg_bits", "abits" (absent: float input), "ocs", "bytes"}] and \
        "quantized_bytes" (codes at their width, scales, points, biases, ranges, maps), one table row per layer.

        Examples:
          mpq inspect mb2-ssd-lite-mp-0_686.pth
          mpq inspect ssd300_mAP_77.43_v2.pth --json -
          mpq inspect model.safetensors --json out/model-inspect.json
          mpq inspect w4a8-multipoint.safetensors
        """
    )

    @Argument(help: ArgumentHelp("The checkpoint file to read (.pth legacy or zip, or .safetensors).",
                                 valueName: "checkpoint"))
    var checkpoint: String

    @Option(help: ArgumentHelp("Also write the report as JSON to this file, or to standard output with '-' "
        + "(then the table is not printed).", valueName: "file"))
    var json: String?

    func validate() throws {
        guard !checkpoint.isEmpty else { throw ValidationError("Give the checkpoint file to inspect.") }
        if let json, json.isEmpty { throw ValidationError("--json takes a file name, or '-' for standard output.") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: checkpoint)
        let (dict, format) = try Checkpoint.load(url)
        var report = CheckpointReport(file: checkpoint, format: format, dict: dict)
        if QuantizedFile.isQuantized(dict) {
            let file = try QuantizedFile(reading: dict, file: checkpoint)
            report.quantizedLayers = file.convs.map { .init($0, bytes: file.storedBytes(of: $0)) }
            report.quantizedBytes = report.quantizedLayers?.reduce(0) { $0 + $1.bytes }
            let loaded = try QuantizedFile.load(url)
            report.architecture = loaded.model.architecture.rawValue
            report.classes = loaded.model.classes
        }
        if let json { try Output.writeJSON(report, to: json) }
        if json != "-" { print(report.text(), terminator: "") }
    }
}

/// The facts `mpq inspect` reports: what the file says, plus the SSD architecture and class count recognised
/// from its keys and head shapes (nil when the keys match no supported detector).
struct CheckpointReport: Encodable {
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
    func text() -> String {
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
