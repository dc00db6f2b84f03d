import Foundation
import Imaging
import SSD
import Tensors

/// Everything `mpq bench --model` does between parsing and printing: time the forward pass (and the JPEG ->
/// detections pipeline), count the convolutions' FLOPs, and optionally profile each layer.
public struct ForwardBenchmark {
    /// The command's settings, validated by the CLI.
    public struct Options {
        public var model: String?
        /// The architecture's name, when it cannot be detected from the checkpoint's keys.
        public var architecture: String?
        /// onednn or native (float models), int8 or simulated (quantized model files); nil: the default.
        public var engine: String?
        public var runs = 20
        /// The JPEG the pipeline timing decodes (nil: a bundled VOC sample if one is found).
        public var image: String?
        public var forwardOnly = false
        public var profile = false

        public init() {}
    }

    public let options: Options
    let threads: Int
    /// The conv input quantization of a quantized model file (with its integer weights on the int8 engine).
    private var quantization: InputQuantization?
    private var workspaceForKernels = SSDWorkspace(engine: .onednn)

    public init(_ options: Options, threads: Int) {
        self.options = options
        self.threads = threads
    }

    /// Times the model (and the pipeline unless `forwardOnly`); with `profile`, `print` gets the per-layer lines.
    /// - Throws: `OptionsError` when a quantized engine is asked of a float checkpoint; the errors of loading and
    ///   decoding.
    public mutating func run(note: (String) -> Void = Output.note, print say: (String) -> Void) throws -> BenchReport {
        let o = options, engine = o.engine, runs = o.runs
        let modelURL = try EmbeddedDemo.resolve(model: o.model, vocRoot: nil, datasetNeeded: false).model
        let model = modelURL.path
        let file = try QuantizedFile.load(modelURL, architecture: o.architecture.flatMap(Architecture.init(rawValue:)))
        let loaded = file.model
        if let quantized = file.quantized {
            let choice = engine.flatMap(QuantizedEngine.init(rawValue:)) ?? .int8
            let (q, notice) = quantized.execution(choice)
            if let notice { note("\(model): \(notice)") }
            quantization = q
        } else if let engine, QuantizedEngine(rawValue: engine) != nil {
            throw OptionsError("--engine \(engine) is for quantized model files; \(model) is a float checkpoint "
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
        if let engineNote = ran.engineNote {
            note("note: the oneDNN engine cannot run this model (\(engineNote)); timed native")
        }
        report.forwardMs = Latency(times)
        report.forwardCPUMs = cpuMs
        report.gflops = convolutionFLOPs(loaded) / report.forwardMs.median / 1e6
        if !o.forwardOnly {
            if let path = o.image ?? defaultImage() {
                report.image = path
                report.pipelineMs = Latency(try timePipeline(loaded, image: URL(fileURLWithPath: path)))
            } else {
                note("note: no --image given and no bundled VOC sample found; pipeline not timed")
            }
        }
        report.peakRSSMB = ProcessClock.peakResidentMB()
        if o.profile { printProfile(loaded, print: say) }
        return report
    }

    /// A deterministic input (the network's speed does not depend on the values).
    private func syntheticInput() -> Tensor {
        let n = 3 * SSDModel.inputSize * SSDModel.inputSize
        return Tensor(shape: [1, 3, SSDModel.inputSize, SSDModel.inputSize],
                      data: (0..<n).map { Float(($0 * 7919) % 255) / 128 - 1 })
    }

    /// The executor: `native` when asked for, else oneDNN (the integer and simulated engines run on it).
    private var selectedEngine: ForwardEngine { options.engine.flatMap(ForwardEngine.init(rawValue:)) ?? .default }

    private func timeForward(_ model: SSDModel) -> (times: [Double], cpuMs: Double, workspace: SSDWorkspace) {
        let input = syntheticInput()
        var workspace = SSDWorkspace(engine: selectedEngine)
        var out = HeadOutputs(priors: model.priors.count, classes: model.classes)
        model.forward(input, into: &out, workspace: &workspace, quantization: quantization)   // warm-up
        let cpuBefore = ProcessClock.cpuSeconds()
        let runs = options.runs
        let times = (0..<runs).map { _ in
            ProcessClock.milliseconds { model.forward(input, into: &out, workspace: &workspace, quantization: quantization) }
        }
        return (times, (ProcessClock.cpuSeconds() - cpuBefore) * 1000 / Double(runs), workspace)
    }

    private func timePipeline(_ model: SSDModel, image url: URL) throws -> [Double] {
        var detector = Detector(model: model, quantization: quantization, engine: selectedEngine)
        var decoded = RGBImage()
        var times: [Double] = []
        for i in 0...options.runs {
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
    private func printProfile(_ model: SSDModel, print: (String) -> Void) {
        if selectedEngine == .onednn {
            printEngineProfile(model, print: print)
            return
        }
        let convs = Dictionary(model.convolutions.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        var workspace = SSDWorkspace()
        nonisolated(unsafe) var samples: [String: [Double]] = [:]
        nonisolated(unsafe) var order: [String] = []
        nonisolated(unsafe) var flops: [String: Double] = [:]
        let input = syntheticInput()
        for _ in 0..<options.runs {
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
    private func printEngineProfile(_ model: SSDModel, print: (String) -> Void) {
        var workspace = SSDWorkspace(engine: .onednn)
        let input = syntheticInput()
        var runsTimes: [[EngineStepTime]] = []
        for _ in 0...options.runs {
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
public struct Latency: Codable {
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
public struct BenchReport: Codable {
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

    public var text: String {
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


