import ArgumentParser
import Foundation
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
        let report = try CheckpointReport.inspect(checkpoint)
        if let json { try Output.writeJSON(report, to: json) }
        if json != "-" { print(report.text(), terminator: "") }
    }
}
