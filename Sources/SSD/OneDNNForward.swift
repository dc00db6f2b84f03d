import Dispatch
import Foundation
import Synchronization
import Tensors

/// Which executor `SSDModel.forward` uses.
public enum ForwardEngine: String, Sendable, CaseIterable {
    /// Our own kernels (`Tensors`). Conv input hooks (calibration, profiles) and channel-split (OCS) convs always
    /// run on it; its outputs are bit-identical for any thread count by construction.
    case native
    /// The network compiled into oneDNN primitives over NHWC activations (once per workspace, weights, input
    /// quantization and thread count): direct AVX-512 convolutions with fused bias, activation and residual add,
    /// heads written straight into the output rows, conv input fake-quant (`InputQuantization`) as vectorised
    /// steps. Used by `forward` and the staged passes (`advance`, `resume`, `rerunHeads`, over stage ranges)
    /// without a hook or channel-split conv; anything else runs natively.
    case onednn

    /// `MPQ_ENGINE=native|onednn` when set, else `onednn`.
    public static let `default`: ForwardEngine = {
        ProcessInfo.processInfo.environment["MPQ_ENGINE"].flatMap(ForwardEngine.init(rawValue:)) ?? .onednn
    }()
}

/// A model's network compiled for one workspace (see `ForwardEngine.onednn`).
final class CompiledForward: @unchecked Sendable {
    enum Step {
        /// Copies the input (the NCHW image, or an NCHW or NHWC state) into the program's NHWC input tensor.
        case input(OneDNNTensor, nchw: Bool)
        case primitive(Int32)
        /// A per-pixel map over NHWC data done in Swift (a source normalisation): `body(x, y, channels, pixels)`.
        case custom(from: OneDNNTensor, to: OneDNNTensor,
                    body: @Sendable (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void)
        /// An integer conv's input: the float tensor's codes on the conv's grid (gathered for OCS).
        case quantize(from: OneDNNTensor, to: OneDNNTensor, plan: IntegerConvPlan)
        /// A multipoint integer conv's rows summed per channel, with bias, residual and activation.
        /// With a u8 `to`, the sum is written as the reader's codes on `readerGrid`.
        case sumRows(from: OneDNNTensor, to: OneDNNTensor, plan: IntegerConvPlan, activation: Activation,
                     accumulate: Bool, readerGrid: InputQuantization.Grid?)
    }

    /// A head's output tensor, written in place into the output rows from float `offset` on.
    struct HeadBinding {
        let tensor: OneDNNTensor
        let confidences: Bool
        let offset: Int
    }

    /// What the program was compiled for: the model's revision, its stages, whether the input is NCHW, the conv
    /// input quantization (nil: none), and (in `program`) the thread count.
    let revision: UInt64
    let stages: Range<Int>
    let inputIsNCHW: Bool
    let quantization: InputQuantization?
    let program: OneDNNProgram
    /// The running activation after the last stage (what a paused state holds).
    let output: OneDNNTensor
    let steps: [Step]
    /// What each step computes (a conv's checkpoint name, `pool`, `input`, `normalise`), for profiles.
    let labels: [String]
    let heads: [HeadBinding]

    init(revision: UInt64, stages: Range<Int>, quantization: InputQuantization?, builder: OneDNNBuilder) throws {
        try builder.program.finalize()
        self.revision = revision
        self.stages = stages
        inputIsNCHW = builder.inputIsNCHW
        output = builder.current
        self.quantization = quantization
        program = builder.program
        steps = builder.steps
        labels = builder.labels
        heads = builder.heads
    }

    /// The oneDNN implementation of every primitive step, in order (for reports and tests).
    var implementations: [String] {
        steps.compactMap { if case let .primitive(i) = $0 { return program.implementation(i) } else { return nil } }
    }

    /// Runs the program on `input` (`[1, C, H, W]` in the layout it was compiled for), writing the head rows of its
    /// stages into `out`; `exposing` (C·H·W floats) receives the final running activation, NHWC. `timed(step,
    /// seconds)` (a profile) gets every step's wall time.
    /// - Throws: `OneDNNError` if a primitive fails (then `out` is partly written).
    func run(_ input: UnsafePointer<Float>, into out: inout HeadOutputs, exposing: UnsafeMutablePointer<Float>? = nil,
             timed: ((Int, Double) -> Void)? = nil) throws {
        try out.confidences.withUnsafeMutableBufferPointer { conf in
            try out.locations.withUnsafeMutableBufferPointer { loc in
                guard let c = conf.baseAddress, let l = loc.baseAddress else { return }
                for h in heads { program.bind(h.tensor, to: (h.confidences ? c : l) + h.offset) }
                for (k, step) in steps.enumerated() {
                    let started = timed == nil ? 0 : DispatchTime.now().uptimeNanoseconds
                    switch step {
                    case let .input(t, nchw):
                        guard let y = program.data(t) else { throw OneDNNError(description: "input without storage") }
                        if nchw {
                            nchwToNHWC(input, y, channels: t.channels, pixels: t.height * t.width)
                        } else {
                            y.update(from: input, count: t.channels * t.height * t.width)
                        }
                    case let .primitive(index):
                        try program.execute(index)
                    case let .custom(from, to, body):
                        guard let a = program.data(from), let b = program.data(to) else {
                            throw OneDNNError(description: "\(labels[k]): a tensor without storage")
                        }
                        body(a, b, from.channels, from.height * from.width)
                    case let .quantize(from, to, plan):
                        guard let a = program.data(from), let b = program.bytes(to) else {
                            throw OneDNNError(description: "\(labels[k]): a tensor without storage")
                        }
                        plan.quantize(a, b, channels: from.channels, pixels: from.height * from.width)
                    case let .sumRows(from, to, plan, activation, _, readerGrid?) where to.elementType == .u8:
                        guard let a = program.data(from), let b = program.bytes(to) else {
                            throw OneDNNError(description: "\(labels[k]): a tensor without storage")
                        }
                        plan.sumRowsToCodes(a, b, pixels: to.height * to.width, activation: activation, grid: readerGrid)
                    case let .sumRows(from, to, plan, activation, accumulate, readerGrid):
                        guard let a = program.data(from), let b = program.data(to) else {
                            throw OneDNNError(description: "\(labels[k]): a tensor without storage")
                        }
                        plan.sumRows(a, b, pixels: to.height * to.width, activation: activation, accumulate: accumulate,
                                     readerGrid: readerGrid)
                    }
                    if let timed { timed(k, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9) }
                }
                if let exposing {
                    guard let y = program.data(output) else { throw OneDNNError(description: "output without storage") }
                    exposing.update(from: y, count: output.channels * output.height * output.width)
                }
            }
        }
    }

    /// `run` on a tensor.
    func run(_ x: Tensor, into out: inout HeadOutputs, timed: ((Int, Double) -> Void)? = nil) throws {
        try x.data.withUnsafeBufferPointer { b in
            guard let p = b.baseAddress else { throw OneDNNError(description: "empty input") }
            try run(p, into: &out, timed: timed)
        }
    }
}

/// Builds a `CompiledForward`: each network's `compile` drives it the way its `runStage` drives a workspace.
/// Activations ping-pong between slots 0 and 1 (`current`); slot 2 holds a block's depthwise output, slot 3 a
/// normalised source, slot 4 a separable head's hidden map, slot 5 the input image, slot 6 a conv's
/// fake-quantized input (or its 8-bit codes, for an integer conv), slot 7 a multipoint integer conv's rows.
final class OneDNNBuilder {
    enum Slot {
        static let extra = 2, source = 3, headHidden = 4, input = 5, quantizedInput = 6, rows = 7
    }

    let program: OneDNNProgram
    private(set) var steps: [CompiledForward.Step] = []
    private(set) var labels: [String] = []
    private(set) var heads: [CompiledForward.HeadBinding] = []
    private let priorCount: Int
    private let classes: Int
    private let quantization: [String: InputQuantization.Grid]
    private let integer: IntegerConvolutions?
    /// The running activation.
    var current: OneDNNTensor
    let inputIsNCHW: Bool

    /// - Parameters:
    ///   - input: the shape `[1, C, H, W]` the program starts from (the image, or a state's activation).
    ///   - nchw: whether that input comes NCHW (the image, a native state) or NHWC (a state of this engine).
    init(priors: Int, classes: Int, threads: Int, winograd: Bool = OneDNNProgram.winogradDefault,
         quantization: InputQuantization?, input: [Int], nchw: Bool) throws {
        program = try OneDNNProgram(threads: threads, winograd: winograd)
        priorCount = priors
        self.classes = classes
        self.quantization = quantization?.grids ?? [:]
        integer = quantization?.integer
        inputIsNCHW = nchw
        current = try program.tensor(slot: Slot.input, channels: input[1], height: input[2], width: input[3])
        append(.input(current, nchw: nchw), nchw ? "input (NCHW to NHWC)" : "input (NHWC state)")
    }

    private func append(_ step: CompiledForward.Step, _ label: String) {
        steps.append(step)
        labels.append(label)
    }

    /// The ping-pong slot that `x` is not in.
    func otherSlot(_ x: OneDNNTensor) -> Int { x.slot == 0 ? 1 : 0 }

    /// `MPQ_INT8_FUSE=0` turns the fusion of a float reader's fake quantization into an int8 conv off (for A/B
    /// measurements).
    static let fuseReaderQuantization = ProcessInfo.processInfo.environment["MPQ_INT8_FUSE"] != "0"

    /// Tensors already fake-quantized on their only reader's grid (by the int8 conv that wrote them).
    private var fakeQuantized: Set<Int32> = []

    /// `MPQ_INT8_CHAIN=0` turns off int8 convs writing their int8 reader's u8 codes (for A/B measurements).
    static let chainCodes = ProcessInfo.processInfo.environment["MPQ_INT8_CHAIN"] != "0"

    /// Tensors holding u8 codes on their only reader's grid (written by the int8 conv that produced them).
    private var codeTensors: Set<Int32> = []

    /// The grid on which `reader` can take its input as u8 codes straight from an int8 producer: a dense or
    /// depthwise conv with an unsigned input grid and no channel map (so its codes need no gather and no zero
    /// point), exact on this CPU; a depthwise one with several points per channel runs them as levels (not in the
    /// rows form, which gathers). Such a reader runs as an integer conv even where the policy keeps its kind float
    /// (depthwise), because reading codes removes the float round trip that made it slower.
    private func codesGrid(for reader: ConvUnit) -> InputQuantization.Grid? {
        guard Self.chainCodes, let integer, let q = integer.convs[reader.name], let a = q.activation, a.isUnsigned,
              quantization[reader.name] != nil, reader.inputChannelMap == nil, q.inputChannelMap == nil,
              OneDNNProgram.hasVNNI || !integer.wide.contains(reader.name)
        else { return nil }
        let g = reader.conv.groups
        if g == 1 { return a.grid }
        guard g == reader.conv.inChannels, g == reader.conv.outChannels,
              integer.multipoint != .rows || q.pointCounts.allSatisfy({ $0 == 1 }) else { return nil }
        return a.grid
    }

    /// `unit(x)` into a new tensor of `slot`. `onlyReader`: the one conv that reads the output (the output may
    /// then be written fake-quantized for it, or as its u8 codes when both run as integer convs).
    func conv(_ unit: ConvUnit, _ x: OneDNNTensor, slot: Int, onlyReader: ConvUnit? = nil) throws -> OneDNNTensor {
        try check(unit, x)
        if let reader = onlyReader, let grid = codesGrid(for: reader), let plan = try integerPlan(unit, x),
           plan.fused || plan.sumWritesCodes {
            let s = unit.conv.outputShape(for: [1, x.channels, x.height, x.width])
            let y = try program.tensor(slot: slot, channels: s[1], height: s[2], width: s[3], type: .u8)
            try integerConv(unit, plan, x, into: y, accumulate: false, outputGrid: grid)
            codeTensors.insert(y.id)
            return y
        }
        let y = try program.output(of: unit.conv, for: x, slot: slot)
        try conv(unit, x, into: y, onlyReader: onlyReader)
        return y
    }

    /// `y <- unit(x)`, or with `accumulate` `y <- unit(x) + y` (a residual add).
    func conv(_ unit: ConvUnit, _ x: OneDNNTensor, into y: OneDNNTensor, accumulate: Bool = false,
              onlyReader: ConvUnit? = nil) throws {
        if let plan = try integerPlan(unit, x) {
            // A float reader's fake quantization fuses into this conv's post-ops.
            let readerGrid = Self.fuseReaderQuantization
                ? onlyReader.flatMap { r in runsAsInteger(r) ? nil : quantization[r.name] } : nil
            try integerConv(unit, plan, x, into: y, accumulate: accumulate, outputGrid: readerGrid)
            if readerGrid != nil { fakeQuantized.insert(y.id) }
            return
        }
        try check(unit, x)
        guard !codeTensors.contains(x.id) else {
            throw OneDNNError(description: "conv \(unit.name): its input holds another conv's u8 codes")
        }
        var x = x
        if let grid = quantization[unit.name], !fakeQuantized.contains(x.id) {
            // The conv reads a fake-quantized copy; the original stays for other readers (the other head, the
            // residual add), as a hook's returned tensor would.
            x = try custom(x, slot: Slot.quantizedInput, label: "quantize input of \(unit.name)") { a, b, c, pixels in
                grid.apply(a, b, count: c * pixels)
            }
        }
        append(.primitive(try program.convolution(unit.conv, from: x, to: y, accumulate: accumulate, name: unit.name)),
               unit.name)
    }

    /// The integer form of `unit` when the program runs integer weights for it (see `IntegerPolicy`), else nil.
    private func runsAsInteger(_ unit: ConvUnit) -> Bool {
        guard let integer, integer.convs[unit.name]?.activation != nil, quantization[unit.name] != nil else { return false }
        return integer.runsAsInteger(unit)
    }

    private func integerPlan(_ unit: ConvUnit, _ x: OneDNNTensor) throws -> IntegerConvPlan? {
        guard runsAsInteger(unit) || (codeTensors.contains(x.id) && codesGrid(for: unit) != nil),
              let q = integer?.convs[unit.name], let a = q.activation else { return nil }
        try check(unit, x)
        return try IntegerConvPlan(unit: unit, conv: q, activation: a, multipoint: integer?.multipoint ?? .auto)
    }

    /// The quantize step, then the int8 conv (fused when each channel has one point; else one conv per point level
    /// accumulating into `y`, or one conv into the rows tensor and the row sum; see `MultipointForm`). `outputGrid`:
    /// the float reader's fake quantization, applied by the last step.
    private func integerConv(_ unit: ConvUnit, _ plan: IntegerConvPlan, _ x: OneDNNTensor, into y: OneDNNTensor,
                             accumulate: Bool, outputGrid: InputQuantization.Grid? = nil) throws {
        let c = unit.conv
        guard c.dilation * (c.kernelH - 1) < x.height + 2 * c.padding, c.kernelH == c.kernelW else {
            throw OneDNNError(description: "conv \(unit.name): kernel larger than its padded input or not square")
        }
        let codes: OneDNNTensor
        if codeTensors.contains(x.id) {
            // The producer wrote this conv's codes (see `codesGrid`).
            guard plan.gather == nil, plan.zeroPoint == 0 else {
                throw OneDNNError(description: "conv \(unit.name): codes input needs a gather or a zero point")
            }
            codes = x
        } else {
            codes = try program.tensor(slot: Slot.quantizedInput, channels: plan.gather?.count ?? x.channels,
                                       height: x.height, width: x.width, type: .u8)
            append(.quantize(from: x, to: codes, plan: plan),
                   "quantize input of \(unit.name) (u8, zero point \(plan.zeroPoint))")
        }
        if plan.fused {
            append(.primitive(try program.int8Convolution(
                weight: plan.weights, scales: plan.rowScales, bias: plan.bias, sourceZeroPoint: plan.zeroPoint,
                groups: plan.groups, kernel: c.kernelH,
                stride: c.stride, padding: c.padding, dilation: c.dilation, activation: c.activation, from: codes,
                to: y, accumulate: accumulate, outputGrid: outputGrid.map { ($0.scale, $0.qmin, $0.qmax) },
                name: unit.name)), unit.name + Self.readerSuffix(outputGrid, y))
        } else if let levels = plan.levels {
            for k in stride(from: levels.count - 1, through: 1, by: -1) {
                append(.primitive(try program.int8Convolution(
                    weight: levels[k].weights, scales: levels[k].scales, bias: nil, sourceZeroPoint: plan.zeroPoint,
                    groups: plan.groups, kernel: c.kernelH, stride: c.stride, padding: c.padding, dilation: c.dilation,
                    activation: .identity, from: codes, to: y, accumulate: accumulate || k < levels.count - 1,
                    name: unit.name)), "\(unit.name) (point \(k + 1))")
            }
            append(.primitive(try program.int8Convolution(
                weight: levels[0].weights, scales: levels[0].scales, bias: plan.bias, sourceZeroPoint: plan.zeroPoint,
                groups: plan.groups, kernel: c.kernelH, stride: c.stride, padding: c.padding, dilation: c.dilation,
                activation: c.activation, from: codes, to: y, accumulate: true,
                outputGrid: outputGrid.map { ($0.scale, $0.qmin, $0.qmax) }, name: unit.name)),
                   unit.name + " (point 1, + the other points" + (outputGrid == nil ? ")" : ", + its reader's fake quantization)"))
        } else {
            let rows = try program.tensor(slot: Slot.rows, channels: plan.paddedRows ?? plan.rowChannel.count,
                                          height: y.height, width: y.width)
            append(.primitive(try program.int8Convolution(
                weight: plan.weights, scales: plan.rowScales, bias: nil, sourceZeroPoint: plan.zeroPoint,
                groups: plan.groups, kernel: c.kernelH,
                stride: c.stride, padding: c.padding, dilation: c.dilation, activation: .identity, from: codes,
                to: rows, name: unit.name)), unit.name)
            append(.sumRows(from: rows, to: y, plan: plan, activation: c.activation, accumulate: accumulate,
                            readerGrid: outputGrid),
                   "sum rows of \(unit.name)" + Self.readerSuffix(outputGrid, y))
        }
    }

    /// Convs the engine runs: ordinary ones (a channel-split OCS conv reads a gathered input: native only).
    private func check(_ unit: ConvUnit, _ x: OneDNNTensor) throws {
        guard unit.inputChannelMap == nil else {
            throw OneDNNError(description: "conv \(unit.name) reads split channels (OCS)")
        }
        guard unit.conv.inChannels == x.channels else {
            throw OneDNNError(description: "conv \(unit.name) expects \(unit.conv.inChannels) channels, gets \(x.channels)")
        }
    }

    /// What a step that writes for its reader adds to its label.
    private static func readerSuffix(_ grid: InputQuantization.Grid?, _ y: OneDNNTensor) -> String {
        grid == nil ? "" : y.elementType == .u8 ? " (writes its reader's u8 codes)" : " (+ its reader's fake quantization)"
    }

    /// `current <- unit(current)`.
    func step(_ unit: ConvUnit, onlyReader: ConvUnit? = nil) throws {
        current = try conv(unit, current, slot: otherSlot(current), onlyReader: onlyReader)
    }

    /// `current <- pool(current)`.
    func pool(_ pool: MaxPool2D) throws {
        let s = pool.outputShape(for: [1, current.channels, current.height, current.width])
        let y = try program.tensor(slot: otherSlot(current), channels: s[1], height: s[2], width: s[3])
        append(.primitive(try program.maxPool(pool, from: current, to: y)), "max pool \(pool.kernel)x\(pool.kernel)")
        current = y
    }

    /// A per-pixel map of `x` into slot `slot` done in Swift (NHWC: each pixel's channels are contiguous).
    func custom(_ x: OneDNNTensor, slot: Int, label: String,
                _ body: @escaping @Sendable (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void)
        throws -> OneDNNTensor {
        let y = try program.tensor(slot: slot, channels: x.channels, height: x.height, width: x.width)
        append(.custom(from: x, to: y, body: body), label)
        return y
    }

    /// Both heads of source `i` on `x`, writing their rows in place.
    func heads(_ heads: DetectionHeads, source i: Int, _ x: OneDNNTensor) throws {
        for (layer, k, confidences) in [(heads.classification[i], heads.classes, true), (heads.regression[i], 4, false)] {
            var input = x
            let last: ConvUnit
            switch layer {
            case let .plain(unit): last = unit
            case let .separable(dw, pw):
                input = try conv(dw, x, slot: Slot.headHidden)
                last = pw
            }
            let y = try program.output(of: last.conv, for: input, slot: OneDNNProgram.external)
            let offset = heads.offsets[i] * k
            guard offset + y.channels * y.height * y.width <= priorCount * k, (confidences ? classes : 4) == k else {
                throw OneDNNError(description: "head \(last.name) overruns the prior count")
            }
            try conv(last, input, into: y)
            self.heads.append(.init(tensor: y, confidences: confidences, offset: offset))
        }
    }
}

/// A process-wide counter naming model revisions (every load and every weight change gets a new one), so a
/// workspace knows when its compiled program is stale.
enum ModelRevision {
    private static let counter = Atomic<UInt64>(0)
    static func next() -> UInt64 { counter.add(1, ordering: .relaxed).newValue }
}

extension SSDWorkspace {
    /// After a oneDNN failure (not expected: buffers are allocated at compile time): drop the programs, run this
    /// model natively from now on, and say why.
    mutating func engineFailed(revision: UInt64, _ error: Error) {
        compiledPrograms.removeAll()
        failedRevision = revision
        engineNote = "oneDNN failed, running natively: \(error)"
        lastEngine = .native
    }

    /// The most programs a workspace keeps (a sensitivity run alternates between the float model's advancing
    /// program and a quantized model's resuming one).
    static let programCacheSize = 3

    /// The compiled program running `stages` of `model` (and conv input `quantization`) at `Runtime.threads` from
    /// an input of shape `input` (NCHW or NHWC), compiling it on first use; nil (the native engine runs) when the
    /// model cannot be compiled, e.g. it has a channel-split conv.
    mutating func compiled(for model: SSDModel, stages: Range<Int>? = nil, input: [Int]? = nil, nchw: Bool = true,
                           quantization: InputQuantization? = nil) -> CompiledForward? {
        let threads = Runtime.threads
        let stages = stages ?? 0..<model.network.stageCount
        let input = input ?? [1, 3, SSDModel.inputSize, SSDModel.inputSize]
        // A copied workspace shares its programs (and their buffers) with the original: give this copy its own,
        // so copies can run on different threads as values should.
        for i in compiledPrograms.indices.reversed() where !isKnownUniquelyReferenced(&compiledPrograms[i]) {
            compiledPrograms.remove(at: i)
        }
        if let i = compiledPrograms.firstIndex(where: {
            $0.revision == model.revision && $0.stages == stages && $0.inputIsNCHW == nchw
                && $0.program.threads == threads && $0.quantization == quantization && $0.program.winograd == winograd
        }) {
            let hit = compiledPrograms.remove(at: i)
            compiledPrograms.insert(hit, at: 0)
            return hit
        }
        if failedRevision == model.revision { return nil }
        do {
            let builder = try OneDNNBuilder(priors: model.priors.count, classes: model.classes, threads: threads,
                                            winograd: winograd, quantization: quantization, input: input, nchw: nchw)
            try model.network.compile(builder, stages: stages)
            let compiled = try CompiledForward(revision: model.revision, stages: stages, quantization: quantization,
                                               builder: builder)
            compiledPrograms.insert(compiled, at: 0)
            if compiledPrograms.count > Self.programCacheSize { compiledPrograms.removeLast() }
            engineNote = nil
            return compiled
        } catch {
            failedRevision = model.revision
            engineNote = "\(error)"
            return nil
        }
    }
}

/// One step of a oneDNN forward pass in a profile.
public struct EngineStepTime: Sendable {
    /// A conv's checkpoint name, or `max pool KxK`, `input (NCHW to NHWC)`, a source normalisation.
    public let label: String
    /// oneDNN's implementation (`brgconv:avx512_core`, …), or `swift` for steps done in Swift.
    public let implementation: String
    public let seconds: Double
}

extension SSDModel {
    /// Runs the oneDNN program once and times each step (wall time); nil when the model does not compile (then
    /// `workspace.engineNote` says why).
    public func profileEngine(_ input: Tensor, workspace: inout SSDWorkspace,
                              quantization: InputQuantization? = nil) -> [EngineStepTime]? {
        guard let compiled = workspace.compiled(for: self, quantization: quantization) else { return nil }
        var out = HeadOutputs(priors: priors.count, classes: classes)
        var times = [Double](repeating: 0, count: compiled.steps.count)
        do {
            try compiled.run(input, into: &out) { k, seconds in times[k] = seconds }
        } catch {
            workspace.engineNote = "\(error)"
            return nil
        }
        return compiled.steps.indices.map { k in
            let impl: String
            if case let .primitive(i) = compiled.steps[k] { impl = compiled.program.implementation(i) } else { impl = "swift" }
            return EngineStepTime(label: compiled.labels[k], implementation: impl, seconds: times[k])
        }
    }
}
