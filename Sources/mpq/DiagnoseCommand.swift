import ArgumentParser
import Foundation
import SSD
import Tensors
import Workflows

/// `mpq diagnose`: where a quantized model loses accuracy against its float model, and what to change.
struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Find which layers, heads and operands (weights or activations) a quantized model loses accuracy in.",
        discussion: """
        Runs the float model and the quantized model on the first --limit images of --split and reports: the \
        VOC07 mAP (devkit rules) of the float model, the quantized model, its weights with float activations \
        (weights only), float weights with its activation grids (activations only), and two head swaps (the \
        quantized class scores with the float boxes, and the other way round), each with a paired bootstrap \
        interval of its difference to float; the per-class AP before and after; the SQNR of each head's raw \
        outputs; and on the first --sqnr-images images, at every conv, the SQNR of the quantized network's \
        output against the float network's (accumulated) and of that conv alone on the float input (its own \
        error, split into weights and input grid). SQNR values are in dB, capped at 200 (equal tensors). \
        A ranked "what broke" list names the layers with the lowest own SQNR and a fix for each: \
        more_points, keep_float or higher_abits, with the numbers behind it.

        Writes into --report: diagnose.json, diagnose.md and report.html (one file, inline charts). Without \
        --model the quantized file's source model is used if it is the embedded demo model (the file records \
        its source's SHA-256); otherwise --model is required. Without --voc-root the embedded demo dataset. \
        docs/diagnose.md says what each number means and how to read the report.

        Examples:
          mpq diagnose --quantized runs/q4.safetensors --limit 50 \\
              --report runs/diag-q4
          mpq diagnose --model mb2-ssd-lite-mp-0_686.pth \\
              --quantized mb2-mp4.safetensors --voc-root VOCdevkit/VOC2007 \\
              --split test --limit 500 --threads 2 --report out/diag
        """
    )

    @OptionGroup var modelOption: FloatModelOption
    var model: String? { modelOption.model }

    @Option(help: ArgumentHelp("The quantized model file (mpq quantize --out).", valueName: "file"))
    var quantized: String

    @OptionGroup var datasetOption: DatasetOption
    var vocRoot: String? { datasetOption.vocRoot }

    @Option(help: ArgumentHelp("The evaluation split, ImageSets/Main/<name>.txt.", valueName: "name"))
    var split: String = "test"

    @Option(help: ArgumentHelp("Score the first N images of the split (default: all).", valueName: "n"))
    var limit: Int?

    @Option(name: .customLong("sqnr-images"),
            help: ArgumentHelp("How many of those images (from the start) the per-layer SQNR uses.", valueName: "n"))
    var sqnrImages: Int = 16

    @Option(help: ArgumentHelp("How many layers the ranked what-broke list keeps.", valueName: "n"))
    var top: Int = 10

    @OptionGroup var engineOption: EngineOption
    var engine: QuantizedEngine { engineOption.engine }

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    @Option(help: ArgumentHelp("The folder diagnose.json, diagnose.md and report.html go into.", valueName: "dir"))
    var report: String

    @OptionGroup var bootstrapOptions: BootstrapOptions

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit).") }
        guard sqnrImages >= 1 else { throw ValidationError("--sqnr-images must be at least 1, got \(sqnrImages).") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top).") }
        guard !report.isEmpty else { throw ValidationError("--report needs a folder.") }
        guard !split.isEmpty, !split.contains("/") else {
            throw ValidationError("--split takes a split name such as test or trainval, not a path: '\(split)'.")
        }
    }

    func run() throws {
        Runtime.setThreads(threads)
        let loaded = try DiagnoseJob.load(quantized: quantized, model: model, vocRoot: vocRoot)
        try DiagnoseJob(inputs: loaded.inputs, quantizedPath: quantized, file: loaded.file,
                        quantizedModel: loaded.model, split: split, limit: limit, sqnrImages: sqnrImages, top: top,
                        engine: engine, threads: threads, bootstrap: bootstrapOptions.plan)
            .run(report: URL(fileURLWithPath: report))
    }
}
