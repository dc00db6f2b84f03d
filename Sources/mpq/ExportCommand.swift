import ArgumentParser
import Foundation
import ONNXExport
import SafeIO
import SSD
import Workflows

/// `mpq export`: write a float checkpoint or a quantized model file as an ONNX model.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model as ONNX (float, or QDQ / integer convolutions for a quantized file).",
        discussion: """
        Any model file mpq runs: a float checkpoint of the four architectures or a quantized model file from \
        mpq quantize --out (without --model, the embedded demo detector). Input 'image' [1, 3, 300, 300] float, \
        preprocessed as the metadata says (mpq.mean, mpq.std: per channel in input order on 0-255 pixels after \
        the 300x300 resize; mpq.channel_order; mpq.classes, background first; mpq.quantization for a quantized \
        file). Outputs 'scores' [1, P, C] (softmax) and 'boxes' [1, P, 4] (normalised corners, priors as \
        constants), or with --no-postprocess the raw head outputs 'confidences' and 'locations'.

        A quantized conv with a quantized input is written in one of two forms (multipoint: all points as rows of \
        one conv, summed back per channel). --form qdq (the default): QuantizeLinear -> DequantizeLinear on the \
        input, DequantizeLinear on the int8 weight codes (per row), float Conv; the standard QDQ graph that int8 \
        runtimes read, and ONNX Runtime fuses the single-point convs whose output goes to the next quantized conv \
        into QLinearConv. --form conv-integer: QuantizeLinear -> ConvInteger -> DequantizeLinear of the int32 \
        sums, mpq's int8 arithmetic, every quantized conv an integer kernel in ONNX Runtime. Layers mpq keeps float \
        stay float Conv. The file is written atomically. Details: docs/export.md.

        Examples:
          mpq export --out demo.onnx
          mpq export --model mb2-mp4.safetensors --out mb2-mp4.onnx
          mpq export --model mb2-mp4.safetensors --out mb2-mp4-int.onnx \\
              --form conv-integer
          mpq export --model w8a8.safetensors --out w8a8-avx2.onnx --qdq-weights u8
          mpq export --model ssd300_mAP_77.43_v2.pth --out ssd300-raw.onnx \\
              --no-postprocess --opset 13
        """
    )

    @OptionGroup var modelOption: ModelOption
    var model: String? { modelOption.model }

    @Option(help: ArgumentHelp("Force the architecture instead of recognising it from the tensor names "
        + "(mb2-ssd-lite, mb1-ssd, vgg16-ssd, ssd300-vgg16).", valueName: "name"))
    var arch: Architecture?

    @Option(help: ArgumentHelp("The ONNX file to write.", valueName: "file"))
    var out: String

    @Flag(inversion: .prefixedNo, help: ArgumentHelp("Include softmax and box decoding (outputs scores and boxes; "
        + "the default), or write the raw head outputs (confidences and locations)."))
    var postprocess = true

    @Option(help: ArgumentHelp("The ONNX opset (13 to 21).", valueName: "n"))
    var opset: Int = ONNXExporter.defaultOpset

    @Option(help: ArgumentHelp("How quantized convs are written: qdq (DequantizeLinear on the int8 weight codes "
        + "and on the input codes, float Conv; the standard QDQ graph int8 runtimes fuse) or conv-integer "
        + "(ConvInteger on the codes, its int32 sums dequantized: mpq's int8 arithmetic).", valueName: "form"))
    var form: ONNXExporter.QuantizedForm = .qdq

    @Option(name: .customLong("qdq-weights"), help: ArgumentHelp("The QDQ form's weight codes: s8 (int8, zero point "
        + "0; the standard, the default) or u8 (code + 128, zero point 128: the same weights, for ONNX Runtime on "
        + "x86 CPUs without VNNI, whose u8 x s8 kernels saturate on 8-bit codes).", valueName: "type"))
    var qdqWeights: ONNXExporter.QDQWeights = .s8

    @Option(help: ArgumentHelp("A class list file (one class per line, # comments) for mpq.classes, background "
        + "excluded; default: the names a quantized file keeps, else the demo's or the 20 VOC classes.",
        valueName: "file"))
    var classes: String?

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out needs a path.") }
        guard ONNXExporter.opsets.contains(opset) else {
            throw ValidationError("--opset must be between \(ONNXExporter.opsets.lowerBound) and "
                                  + "\(ONNXExporter.opsets.upperBound), got \(opset).")
        }
    }

    func run() throws {
        let modelURL = try EmbeddedDemo.resolve(model: model, vocRoot: nil, datasetNeeded: false).model
        let loaded = try QuantizedFile.load(modelURL, architecture: arch)
        let names = try asUsageError {
            try DetectJob.classNames(for: loaded.model, file: loaded.quantized, modelURL: modelURL,
                                     classesFile: classes, embedded: model == nil)
        }
        let (data, summary) = try ONNXExporter.export(
            loaded.model, quantized: loaded.quantized, classNames: names,
            options: .init(postprocess: postprocess, opset: opset, producerVersion: MPQ.configuration.version,
                           form: form, qdqWeights: qdqWeights))
        try SignalsHeld.during {
            // Tests: a Ctrl-C that arrives while the file is being written (ExportTests).
            if ProcessInfo.processInfo.environment["MPQ_TEST_INTERRUPT_EXPORT_WRITE"] == "1" { raise(SIGINT) }
            try AtomicFile.write(data, to: URL(fileURLWithPath: out))
        }
        let integer = form == .qdq ? "convs ONNX Runtime fuses to QLinearConv" : "ConvInteger convs"
        let kind = loaded.quantized.map { "quantized (\($0.info.method), \(form.rawValue) form, "
            + "\(summary.integerConvs) \(integer), \(summary.floatConvs) float)" } ?? "float"
        print("\(out): \(loaded.model.architecture.rawValue) \(kind), opset \(opset), \(summary.nodes) nodes, "
              + "\(summary.bytes) bytes, outputs \(postprocess ? "scores, boxes" : "confidences, locations")")
    }
}

/// Holds SIGINT, SIGTERM and SIGHUP while `body` runs and delivers them afterwards: a Ctrl-C during the atomic
/// write lets the write finish (the complete file renamed into place, or on failure the temporary removed) and
/// then ends the process as the signal would have, so neither a half-written file nor a temporary is left.
/// The handler only records the signal (async-signal-safe); the default action is restored before re-raising.
enum SignalsHeld {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

    static func during<T>(_ body: () throws -> T) rethrows -> T {
        let signals = [SIGINT, SIGTERM, SIGHUP]
        received = 0
        let record: @convention(c) (Int32) -> Void = { signal in
            if SignalsHeld.received == 0 { SignalsHeld.received = signal }
        }
        let previous = signals.map { Foundation.signal($0, record) }
        defer {
            for (signal, handler) in zip(signals, previous) { _ = Foundation.signal(signal, handler) }
            if received != 0 {
                _ = Foundation.signal(received, SIG_DFL)
                raise(received)
            }
        }
        return try body()
    }
}

extension ONNXExporter.QuantizedForm: ExpressibleByArgument {}
extension ONNXExporter.QDQWeights: ExpressibleByArgument {}
