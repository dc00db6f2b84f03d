import ArgumentParser
import Foundation
import SSD
import Tensors
import Workflows
#if canImport(Glibc)
import Glibc
#endif

/// `mpq bench`: latency of the inference runtime on a model, or of its kernels.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the forward-pass and whole-pipeline latency of a detector.",
        discussion: """
        Times the forward pass alone (a preprocessed 1x3x300x300 tensor to raw head outputs) and the whole \
        detection pipeline (JPEG decode, resize and normalise, forward pass, softmax and box decoding, \
        per-class NMS) for --runs repetitions after one warm-up, and reports the median, minimum and maximum, \
        the achieved convolution GFLOP/s (2 FLOPs per multiply-add, over the median forward time) and the \
        peak resident memory. Outputs do not depend on --threads on either engine (oneDNN: checked per conv \
        when the program is built); only speed does.

        --engine picks the executor: onednn (the default for float models; the network compiled into oneDNN \
        primitives) or native (our own kernels, which quantization studies use for hooked and staged passes); \
        for a quantized model file, int8 (the default: integer convolutions on oneDNN) or simulated (float \
        convolutions over the reconstructed weights on fake-quantized inputs, on oneDNN). The float default can \
        also be set with MPQ_ENGINE=native|onednn for every command. Without --model, the embedded demo \
        detector is timed.

        With --kernels, instead times the convolution kernels on the layer shapes that dominate VGG16-SSD \
        and MobileNetV2-SSD-Lite (no model needed).

        Examples:
          mpq bench --threads 2
          mpq bench --model mb2-ssd-lite-mp-0_686.pth --threads 2
          mpq bench --model w4a8-multipoint.safetensors --engine int8 --profile
          mpq bench --model vgg16-ssd-mp-0_7726.pth --threads 1 --runs 5 --json -
          mpq bench --model model.safetensors \\
              --image VOCdevkit/VOC2007/JPEGImages/000001.jpg
          mpq bench --model vgg16-ssd.pth --engine native --forward-only
          mpq bench --kernels --threads 1
        """
    )

    @OptionGroup var modelOption: ModelOption
    var model: String? { modelOption.model }

    @Option(name: .customLong("arch"),
            help: "The architecture, when it cannot be detected from the checkpoint's keys.")
    var architecture: Architecture?
    var arch: String? { architecture?.rawValue }

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    @Option(name: .customLong("engine"), help: "The executor: onednn or native for float models (default: MPQ_ENGINE, else onednn); int8 (the default) or simulated for quantized model files.")
    var engineChoice: BenchEngine?
    var engine: String? { engineChoice?.rawValue }

    @Option(help: "How many timed repetitions to run (after one warm-up run).")
    var runs: Int = 20

    @Option(help: "The JPEG image the pipeline timing decodes; defaults to a bundled VOC sample if one is found.")
    var image: String?

    @Flag(help: "Time only the forward pass, not the whole pipeline.")
    var forwardOnly = false

    @Flag(help: "Also print each layer's median time (oneDNN: each primitive and the kernel oneDNN chose).")
    var profile = false

    @Flag(help: "Time the convolution kernels on representative SSD layer shapes instead of a model.")
    var kernels = false

    @Option(help: "Write the measurements as JSON to this file, or '-' for standard output.")
    var json: String?

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1.") }
        if let image, !FileManager.default.fileExists(atPath: image) {
            throw ValidationError("The image '\(image)' does not exist.")
        }
    }

    /// The job's settings from the flags.
    var jobOptions: ForwardBenchmark.Options {
        var o = ForwardBenchmark.Options()
        o.model = model
        o.architecture = arch
        o.engine = engine
        o.runs = runs
        o.image = image
        o.forwardOnly = forwardOnly
        o.profile = profile
        return o
    }

    func run() throws {
        Runtime.setThreads(threads)
        if kernels {
            try runKernels()
            return
        }
        var bench = ForwardBenchmark(jobOptions, threads: threads)
        let report = try asUsageError { try bench.run(print: { print($0) }) }
        if let json {
            try Output.writeJSON(report, to: json)
        } else {
            print(report.text)
        }
    }

    private func runKernels() throws {
        let results = KernelBenchmark.run()
        if let json {
            try Output.writeJSON(results, to: json)
            return
        }
        for r in results {
            print(String(format: "%-34@ %9.3f ms %8.1f GFLOP/s wall %8.1f GFLOP/s per CPU-second",
                         r.name as NSString, r.medianMs, r.gflops, r.gflopsPerCPUSecond))
        }
    }
}
