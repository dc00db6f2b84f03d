import Checkpoints
import Foundation
import Quantization
import SSD

/// Everything `mpq diagnose` (and `mpq quantize --diagnose`) does between parsing and printing.
public struct DiagnoseJob {
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
    let bootstrap: BootstrapPlan
    /// Print the summary on standard error (quantize --json - keeps standard output for its JSON).
    var summaryToStandardError = false

    public init(inputs: JobInputs, quantizedPath: String, file: QuantizedFile, quantizedModel: SSDModel,
                split: String, limit: Int?, sqnrImages: Int, top: Int, engine: QuantizedEngine, threads: Int,
                bootstrap: BootstrapPlan, summaryToStandardError: Bool = false) {
        self.inputs = inputs
        self.quantizedPath = quantizedPath
        self.file = file
        self.quantizedModel = quantizedModel
        self.split = split
        self.limit = limit
        self.sqnrImages = sqnrImages
        self.top = top
        self.engine = engine
        self.threads = threads
        self.bootstrap = bootstrap
        self.summaryToStandardError = summaryToStandardError
    }

    /// `mpq diagnose`'s inputs: the quantized file at `quantized`, its float model (`model`, or the embedded demo
    /// model when the file records it as its source) and the dataset.
    /// - Throws: `DemoDataError` when the file is missing or not a quantized model file, or `model` is needed.
    public static func load(quantized: String, model: String?, vocRoot: String?) throws
        -> (inputs: JobInputs, file: QuantizedFile, model: SSDModel) {
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
        return (inputs, file, loaded.model)
    }

    @discardableResult
    public func run(report folder: URL) throws -> Diagnosis {
        let start = Date()
        let eval = try SensitivityJob.evaluationSet(inputs, split: split, count: limit ?? Int.max, threads: threads)
        Output.note("diagnose: \(quantizedPath) (\(file.info.method) w\(file.info.wbits)a\(file.info.abits)) against "
            + "\(inputs.modelPath) on \(eval.images.count) images of '\(split)'")
        let runner = try DiagnosisRunner(
            floatModel: inputs.model, quantizedModel: quantizedModel, file: file, images: eval.images,
            groundTruth: eval.truth,
            options: .init(sqnrImages: sqnrImages, engine: engine, bootstrapResamples: bootstrap.resamples,
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
