import ArgumentParser
import Checkpoints
import Foundation
import Quantization
import SSD
import Tensors
import VOC

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
        let url = URL(fileURLWithPath: quantized)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DemoDataError(message: "\(quantized): no such quantized model file")
        }
        let loaded = try QuantizedFile.load(url)
        guard let file = loaded.quantized else {
            throw DemoDataError(message: "\(quantized): not a quantized model file (no mpq-quantized format in its "
                + "metadata); pass the float model with --model and the file from mpq quantize --out with --quantized")
        }
        let inputs = try JobInputs.resolve(model: model, vocRoot: vocRoot)
        let sha = SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: inputs.modelPath)))
        if sha != file.info.sourceSHA256 {
            guard model != nil else {
                throw DemoDataError(message: "\(quantized): made from a model with SHA-256 "
                    + "\(file.info.sourceSHA256.prefix(16))…, not the embedded demo model; pass its float model "
                    + "with --model")
            }
            Output.note("diagnose: \(inputs.modelPath) is not the file \(quantized) records as its source (SHA-256 "
                + "differs); diagnosing against it anyway")
        }
        try DiagnoseJob(inputs: inputs, quantizedPath: quantized, file: file, quantizedModel: loaded.model,
                        split: split, limit: limit, sqnrImages: sqnrImages, top: top, engine: engine, threads: threads,
                        bootstrap: bootstrapOptions).run(report: URL(fileURLWithPath: report))
    }
}

/// Everything `mpq diagnose` (and `mpq quantize --diagnose`) does between parsing and printing.
struct DiagnoseJob {
    let inputs: JobInputs
    let quantizedPath: String
    let file: QuantizedFile
    let quantizedModel: SSDModel
    let split: String
    let limit: Int?
    let sqnrImages: Int
    let top: Int
    let engine: QuantizedEngine
    let threads: Int
    let bootstrap: BootstrapOptions
    /// Print the summary on standard error (quantize --json - keeps standard output for its JSON).
    var summaryToStandardError = false

    @discardableResult
    func run(report folder: URL) throws -> Diagnosis {
        let start = Date()
        let eval = try SensitivityJob.evaluationSet(inputs, split: split, count: limit ?? Int.max, threads: threads)
        Output.note("diagnose: \(quantizedPath) (\(file.info.method) w\(file.info.wbits)a\(file.info.abits)) against "
            + "\(inputs.modelPath) on \(eval.images.count) images of '\(split)'")
        let runner = try DiagnosisRunner(
            floatModel: inputs.model, quantizedModel: quantizedModel, file: file, images: eval.images,
            groundTruth: eval.truth,
            options: .init(sqnrImages: sqnrImages, engine: engine, bootstrapResamples: bootstrap.bootstrap,
                           seed: bootstrap.seed, top: top))
        var bars: [String: StepProgress] = [:]
        let diagnosis = runner.run { step, done, total in
            let bar = bars[step] ?? StepProgress(step)
            bars[step] = bar
            bar.update(done, of: total)
        }
        let settings: [(String, String)] = [
            ("float model", inputs.modelPath), ("quantized model", quantizedPath),
            ("quantization", "\(file.info.method), w\(file.info.wbits) a\(file.info.abits == 32 ? "float" : "\(file.info.abits)")"),
            ("dataset", inputs.root.path),
            ("images", "first \(eval.images.count) of split '\(split)' (mAP, per-class AP, heads)"),
            ("layer SQNR images", "first \(diagnosis.sqnrImages) of them (native engine, simulated quantization)"),
            ("engine of the quantized variant", engine.rawValue
                + " (weights only and activations only run simulated)"),
            ("bootstrap", diagnosis.bootstrap.map { "\($0.resamples) paired resamples, seed \($0.seed)" } ?? "off"),
        ]
        try DiagnosisFiles.write(diagnosis, settings: settings, to: folder)
        let say: (String) -> Void = summaryToStandardError ? { Output.note($0) } : { print($0) }
        say(DiagnosisFiles.headline(diagnosis).joined(separator: "\n"))
        say("what broke:")
        for f in diagnosis.whatBroke.prefix(5) {
            say("  \(f.rank). \(f.layer): \(f.suggestion)\n     \(f.evidence)")
        }
        say(String(format: "diagnose: %.1f s; report in %@ (diagnose.json, diagnose.md, report.html)",
                   Date().timeIntervalSince(start), folder.path))
        return diagnosis
    }
}
