import ArgumentParser
import Foundation
import SSD
import Workflows

// The options every command spells the same way, declared once. A command embeds a group with `@OptionGroup`
// and reads it through a computed property of the old name, so its body does not change.

/// `--threads N` (default: the CPU's cores). Results never depend on it.
struct ThreadsOption: ParsableArguments {
    // Optional so that --help prints no machine-dependent default.
    @Option(name: .customLong("threads"),
            help: ArgumentHelp("The number of threads (default: the CPU's cores); results do not depend on it.",
                               valueName: "n"))
    var requested: Int?

    var threads: Int { requested ?? ProcessInfo.processInfo.activeProcessorCount }

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads).") }
    }
}

/// `--engine int8|simulated` for commands that run quantized models.
struct EngineOption: ParsableArguments {
    @Option(help: QuantizedEngine.help)
    var engine: QuantizedEngine = .int8
}

/// `--model FILE`: any model mpq runs (a float checkpoint or a quantized model file).
struct ModelOption: ParsableArguments {
    @Option(help: ArgumentHelp("The detector: a checkpoint (.pth legacy or zip, .safetensors) or a quantized model "
        + "file from mpq quantize (default: the embedded demo detector).", valueName: "file"))
    var model: String?
}

/// `--model FILE` for commands that quantize: a float checkpoint.
struct FloatModelOption: ParsableArguments {
    @Option(help: ArgumentHelp("The float detector checkpoint (.pth legacy or zip, .safetensors; default: the "
        + "embedded demo detector).", valueName: "file"))
    var model: String?
}

/// `--voc-root DIR` (default: the embedded demo dataset).
struct DatasetOption: ParsableArguments {
    @Option(name: .customLong("voc-root"),
            help: ArgumentHelp("The dataset folder in VOC layout, e.g. VOCdevkit/VOC2007 (Annotations, ImageSets, "
                + "JPEGImages; default: the embedded demo dataset).", valueName: "dir"))
    var vocRoot: String?
}

/// `--calib-split NAME --calib-images N`: where the calibration images come from. The image count's default
/// is the command's (quantize 64; compare and sensitivity 16, their many models make calibration repeat).
struct CalibrationOptions: ParsableArguments {
    @Option(name: .customLong("calib-split"),
            help: ArgumentHelp("The split the calibration images come from (never the evaluation images).",
                               valueName: "name"))
    var calibSplit: String = "trainval"

    @Option(name: .customLong("calib-images"),
            help: ArgumentHelp("The number of calibration images (default: 64 for quantize, 16 for compare and "
                + "sensitivity).", valueName: "n"))
    var images: Int?

    func count(default value: Int) -> Int { images ?? value }

    func validate() throws {
        if let images, images < 1 { throw ValidationError("--calib-images must be at least 1, got \(images).") }
    }
}

/// `mpq bench --engine`: the float executors and the quantized engines.
enum BenchEngine: String, CaseIterable, ExpressibleByArgument {
    case onednn, native, int8, simulated
}

extension Architecture: ExpressibleByArgument {}

extension QuantizedEngine: ExpressibleByArgument {
    /// The `--engine` help every command shares.
    static var help: ArgumentHelp {
        ArgumentHelp("How a quantized model runs: int8 (integer convolutions on oneDNN, the default) or simulated "
            + "(float convolutions over the reconstructed weights on fake-quantized inputs, the reference).",
            valueName: "engine")
    }
}

/// Runs `body`, reporting a job's `OptionsError` as ArgumentParser reports a `ValidationError`: the same message,
/// then the usage, exit status 64.
@discardableResult
func asUsageError<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as OptionsError { throw ValidationError(error.message) }
}
