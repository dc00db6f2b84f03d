import ArgumentParser
import Foundation
import SSD
import Tensors
import Imaging
import VOC
#if canImport(Glibc)
import Glibc
import Workflows
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

    /// The conv input quantization of a quantized model file (with its integer weights on the int8 engine).
    private var quantization: InputQuantization?
    private var workspaceForKernels = SSDWorkspace(engine: .onednn)

    enum CodingKeys: String, CodingKey {
        case modelOption, architecture, threadsOption, engineChoice, runs, image, forwardOnly, profile, kernels, json
    }

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1.") }
        if let image, !FileManager.default.fileExists(atPath: image) {
            throw ValidationError("The image '\(image)' does not exist.")
        }
    }

    mutating func run() throws {
        Runtime.setThreads(threads)
        if kernels {
            try runKernels()
            return
        }
        let modelURL = try EmbeddedDemo.resolve(model: model, vocRoot: nil, datasetNeeded: false).model
        let model = modelURL.path
        let file = try QuantizedFile.load(modelURL, architecture: arch.flatMap(Architecture.init(rawValue:)))
        let loaded = file.model
        if let quantized = file.quantized {
            let choice = engine.flatMap(QuantizedEngine.init(rawValue:)) ?? .int8
            let (q, notice) = quantized.execution(choice)
            if let notice { Output.note("\(model): \(notice)") }
            quantization = q
        } else if let engine, QuantizedEngine(rawValue: engine) != nil {
            throw ValidationError("--engine \(engine) is for quantized model files; \(model) is a float checkpoint "
                + "(use onednn or native).")
        }
        var report = BenchReport(threads: threads, runs: runs, model: model,
                                 architecture: loaded.architecture.rawValue)
        let (times, cpuMs, ran) = timeForward(loaded)
        report.engine = quantization?.integer != nil && ran.lastEngine == .onednn ? "int8"
            : file.quantized != nil && ran.lastEngine == .onednn ? "simulated" : ran.lastEngine?.rawValue ?? "onednn"
        report.engineNote = ran.engineNote
        if let steps = loaded.profileEngine(syntheticInput(), workspace: &workspaceForKernels, quantization: quantization) {
            report.kernels = Dictionary(steps.filter { $0.implementation != "swift" }.map { ($0.implementation, 1) },
                                        uniquingKeysWith: +)
        }
        if let note = ran.engineNote { Output.note("note: the oneDNN engine cannot run this model (\(note)); timed native") }
        report.forwardMs = Latency(times)
        report.forwardCPUMs = cpuMs
        report.gflops = convolutionFLOPs(loaded) / report.forwardMs.median / 1e6
        if !forwardOnly {
            if let path = image ?? defaultImage() {
                report.image = path
                report.pipelineMs = Latency(try timePipeline(loaded, image: URL(fileURLWithPath: path)))
            } else {
                Output.note("note: no --image given and no bundled VOC sample found; pipeline not timed")
            }
        }
        report.peakRSSMB = ProcessClock.peakResidentMB()
        if profile { printProfile(loaded) }
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

    /// A deterministic input (the network's speed does not depend on the values).
    private func syntheticInput() -> Tensor {
        let n = 3 * SSDModel.inputSize * SSDModel.inputSize
        return Tensor(shape: [1, 3, SSDModel.inputSize, SSDModel.inputSize],
                      data: (0..<n).map { Float(($0 * 7919) % 255) / 128 - 1 })
    }

    /// The executor: `native` when asked for, else oneDNN (the integer and simulated engines run on it).
    private var selectedEngine: ForwardEngine { engine.flatMap(ForwardEngine.init(rawValue:)) ?? .default }

    private func timeForward(_ model: SSDModel) -> (times: [Double], cpuMs: Double, workspace: SSDWorkspace) {
        let input = syntheticInput()
        var workspace = SSDWorkspace(engine: selectedEngine)
        var out = HeadOutputs(priors: model.priors.count, classes: model.classes)
        model.forward(input, into: &out, workspace: &workspace, quantization: quantization)   // warm-up
        let cpuBefore = ProcessClock.cpuSeconds()
        let times = (0..<runs).map { _ in
            ProcessClock.milliseconds { model.forward(input, into: &out, workspace: &workspace, quantization: quantization) }
        }
        return (times, (ProcessClock.cpuSeconds() - cpuBefore) * 1000 / Double(runs), workspace)
    }

    private func timePipeline(_ model: SSDModel, image url: URL) throws -> [Double] {
        var detector = Detector(model: model, quantization: quantization, engine: selectedEngine)
        var decoded = RGBImage()
        var times: [Double] = []
        for i in 0...runs {
            var failure: Error?
            let ms = ProcessClock.milliseconds {
                do {
                    try JPEGDecoder.decode(fileAt: url, into: &decoded)
                } catch {
                    failure = error
                    return
                }
                _ = detector.detect(decoded)
            }
            if let failure { throw failure }
            if i > 0 { times.append(ms) }   // run 0 is the warm-up
        }
        return times
    }

    /// Multiply-adds of every convolution on a 300x300 input, times two; shapes observed with a hook.
    private func convolutionFLOPs(_ model: SSDModel) -> Double {
        let convs = Dictionary(model.convolutions.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        nonisolated(unsafe) var flops = 0.0
        var workspace = SSDWorkspace()
        _ = model.forward(syntheticInput(), workspace: &workspace) { name, x in
            if let conv = convs[name] {
                let out = conv.outputShape(for: x.shape)
                flops += 2 * Double(out.reduce(1, *)) * Double(conv.patchLength)
            }
            return x
        }
        return flops
    }

    /// Per-convolution CPU time of the calling thread (median over the runs; exact with --threads 1): the
    /// time from one conv's input hook to the next, so pooling and head reshuffles are charged to the conv
    /// before them. Thread CPU time, not wall time, so that a busy machine does not blur it. A developer aid.
    private func printProfile(_ model: SSDModel) {
        if selectedEngine == .onednn {
            printEngineProfile(model)
            return
        }
        let convs = Dictionary(model.convolutions.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        var workspace = SSDWorkspace()
        nonisolated(unsafe) var samples: [String: [Double]] = [:]
        nonisolated(unsafe) var order: [String] = []
        nonisolated(unsafe) var flops: [String: Double] = [:]
        let input = syntheticInput()
        for _ in 0..<runs {
            nonisolated(unsafe) var last: (String, UInt64)?
            let end = { (now: UInt64) in
                if let (name, t) = last { samples[name, default: []].append(Double(now - t) / 1e6) }
            }
            _ = model.forward(input, workspace: &workspace) { name, x in
                let now = ProcessClock.threadCPUNanoseconds()
                end(now)
                if samples[name] == nil, let conv = convs[name] {
                    order.append(name)
                    flops[name] = 2 * Double(conv.outputShape(for: x.shape).reduce(1, *)) * Double(conv.patchLength)
                }
                last = (name, ProcessClock.threadCPUNanoseconds())
                return x
            }
            end(ProcessClock.threadCPUNanoseconds())
        }
        var total = 0.0
        for name in order {
            let ms = Latency(samples[name] ?? []).median
            total += ms
            guard let conv = convs[name] else { continue }
            let kind = conv.groups == conv.outChannels && conv.groups > 1 ? "dw" : "\(conv.kernelH)x\(conv.kernelW)"
            print(String(format: "%-44@ %-4@ %8.3f ms %7.1f GFLOP/s", name as NSString, kind as NSString, ms,
                         (flops[name] ?? 0) / ms / 1e6))
        }
        print(String(format: "sum of medians %.2f ms", total))
    }

    /// Per-step wall time of the oneDNN program (median over the runs).
    private func printEngineProfile(_ model: SSDModel) {
        var workspace = SSDWorkspace(engine: .onednn)
        let input = syntheticInput()
        var runsTimes: [[EngineStepTime]] = []
        for _ in 0...runs {
            guard let t = model.profileEngine(input, workspace: &workspace, quantization: quantization) else {
                Output.note("note: no oneDNN profile: \(workspace.engineNote ?? "the model does not compile")")
                return
            }
            runsTimes.append(t)
        }
        let timed = runsTimes.dropFirst()
        var total = 0.0
        for (k, step) in runsTimes[0].enumerated() {
            let ms = Latency(timed.map { $0[k].seconds * 1000 }).median
            total += ms
            print(String(format: "%-44@ %-26@ %8.3f ms", step.label as NSString, step.implementation as NSString, ms))
        }
        print(String(format: "sum of medians %.2f ms", total))
    }

    private func defaultImage() -> String? {
        let candidates = ["VOCdevkit/VOC2007/JPEGImages", "Tests/VOCTests/Fixtures/VOCdevkit/VOC2007/JPEGImages"]
        for dir in candidates {
            if let names = try? FileManager.default.contentsOfDirectory(atPath: dir),
               let first = names.filter({ $0.hasSuffix(".jpg") }).sorted().first {
                return dir + "/" + first
            }
        }
        return nil
    }
}

/// Median, minimum and maximum of a set of timings, in milliseconds.
struct Latency: Codable {
    var median = 0.0, min = 0.0, max = 0.0
    init() {}
    init(_ times: [Double]) {
        let sorted = times.sorted()
        guard let lo = sorted.first, let hi = sorted.last else { return }
        median = sorted.count % 2 == 1 ? sorted[sorted.count / 2]
            : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        min = lo
        max = hi
    }
}

/// What `mpq bench --model` reports (the JSON keys are the documented interface).
struct BenchReport: Codable {
    var threads: Int
    var runs: Int
    var model: String
    var architecture: String
    var image: String?
    var forwardMs = Latency()
    var pipelineMs: Latency?
    /// Mean CPU time (all threads) per forward pass: robust to a busy machine, unlike wall time.
    var forwardCPUMs = 0.0
    var gflops = 0.0
    var peakRSSMB = 0.0
    /// OpenBLAS's kernel family (see `BLASCore`): the GEMM speed depends on it.
    var blasCore = BLASCore.current
    /// How GNU OpenMP's waiting threads spin (see `ProcessEnvironment`): `GOMP_SPINCOUNT`'s value,
    /// `OMP_WAIT_POLICY=<policy>`, or `libgomp default`.
    var ompSpin = ProcessEnvironment.openMPSpin(ProcessInfo.processInfo.environment)
    /// What ran the forward passes: `onednn` or `native` (float models), `int8` or `simulated` (quantized files).
    var engine = ""
    /// oneDNN's implementation of each primitive step, with its count (e.g. `jit_uni_int8:avx2`).
    var kernels: [String: Int]?
    /// The vector extensions mpq's own kernels were built for (`avx512`, `avx2`, `portable`).
    var buildTarget = Runtime.buildVectorTarget
    /// Why the requested engine could not run the model, if it could not.
    var engineNote: String?

    init(threads: Int, runs: Int, model: String, architecture: String) {
        self.threads = threads
        self.runs = runs
        self.model = model
        self.architecture = architecture
    }

    enum CodingKeys: String, CodingKey {
        case threads, runs, model, architecture, image, gflops
        case forwardMs = "forward_ms", pipelineMs = "pipeline_ms", peakRSSMB = "peak_rss_mb"
        case forwardCPUMs = "forward_cpu_ms", blasCore = "blas_core", engine, engineNote = "engine_note"
        case buildTarget = "build_target", kernels, ompSpin = "omp_spin"
    }

    var text: String {
        let kernels = engine == "int8" ? "int8 engine (oneDNN)" : engine == "simulated" ? "simulated engine (oneDNN)"
            : engine == "onednn" ? "oneDNN engine"
            : "native engine (\(buildTarget) build), OpenBLAS \(blasCore) kernels"
        var lines = ["\(architecture) (\(model)), \(threads) thread(s), \(runs) runs, \(kernels)"]
        lines.append(String(format: "forward:  median %.2f ms  min %.2f  max %.2f  (%.1f GFLOP/s; %.2f ms CPU per pass)",
                            forwardMs.median, forwardMs.min, forwardMs.max, gflops, forwardCPUMs))
        if let p = pipelineMs {
            lines.append(String(format: "pipeline: median %.2f ms  min %.2f  max %.2f  (JPEG -> detections)",
                                p.median, p.min, p.max))
        }
        lines.append(String(format: "peak RSS: %.1f MB", peakRSSMB))
        return lines.joined(separator: "\n")
    }
}


