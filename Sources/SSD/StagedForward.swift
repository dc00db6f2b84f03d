import Tensors

/// One step of a network's forward pass, in execution order: a piece of the backbone (a block, a conv, an extra
/// layer) that maps the running activation to the next one, or the two heads of one source, which read the
/// running activation and leave it unchanged.
///
/// Every convolution belongs to exactly one stage; `SSDModel.stages` lists them so that concatenating
/// `convolutions` over all stages gives `SSDModel.convolutions`.
public struct ForwardStage: Sendable, Equatable {
    /// Checkpoint names of the convs this stage runs, in execution order.
    public let convolutions: [String]
    /// The source whose classification and regression heads this stage runs; nil for backbone stages.
    public let headSource: Int?

    public init(convolutions: [String], headSource: Int?) {
        self.convolutions = convolutions
        self.headSource = headSource
    }
}

/// How a paused state's activation is stored: `[1, C, H, W]` row-major (NCHW, the native engine's), or with the
/// channels fastest (NHWC, the oneDNN engine's).
public enum ActivationLayout: Sendable, Equatable {
    case nchw, nhwc
}

/// A forward pass paused before stage `stage`: the running activation there and the head outputs of the sources
/// emitted so far (the rows of later sources are zero).
///
/// Made by `SSDModel.startState`, moved forward by `SSDModel.advance`, finished by `SSDModel.resume`. A state
/// is a value: resuming from it (with the same or another model) leaves it as it was, so one float state can be
/// resumed many times with differently quantized models.
public struct ForwardState: Sendable {
    /// Stages already run (0: at the image; `stages.count`: finished).
    public internal(set) var stage: Int
    /// The activation entering `stage` (shape `[1, C, H, W]`, elements in `layout` order). For a head stage this
    /// is the source the heads read (before any source normalisation, which the head stage applies itself).
    public internal(set) var current: Tensor
    /// `.nhwc` when the oneDNN engine made the state; either engine resumes from either layout.
    public internal(set) var layout: ActivationLayout = .nchw
    /// Outputs of the heads of the stages before `stage`.
    public internal(set) var outputs: HeadOutputs

    /// `current` in NCHW order (a copy when the state holds NHWC).
    var nchwCurrent: Tensor {
        guard layout == .nhwc else { return current }
        let c = current.shape[1], hw = current.shape[2] * current.shape[3]
        var data = [Float](repeating: 0, count: current.count)
        current.data.withUnsafeBufferPointer { x in
            data.withUnsafeMutableBufferPointer { y in nhwcToNCHW(x.baseAddress!, y.baseAddress!, channels: c, pixels: hw) }
        }
        return Tensor(shape: current.shape, data: data)
    }

    /// Floats held (activation and outputs), for memory accounting: bytes = 4 × this.
    public var floatCount: Int { current.count + outputs.confidences.count + outputs.locations.count }
}

/// The stage table and the stage runner each network implements (internal; `SSDModel` is the public face).
protocol StagedNetwork {
    var stageCount: Int { get }
    /// Stage `k`'s conv names and head source.
    func stage(_ k: Int) -> ForwardStage
    /// Runs stage `k` on `ws.current` (updated in place for backbone stages), writing head rows into `out`.
    func runStage(_ k: Int, _ ws: inout SSDWorkspace, into out: inout HeadOutputs, hook: ConvInputHook?)
}

extension ConvContainer {
    /// The conv names inside, in execution order.
    var convolutionNames: [String] {
        var copy = self
        var names: [String] = []
        copy.visitConvolutions { names.append($0.name) }
        return names
    }
}

extension DetectionHeads {
    /// Both heads of source `i`, as a stage.
    func stage(source i: Int) -> ForwardStage {
        ForwardStage(convolutions: classification[i].convolutionNames + regression[i].convolutionNames, headSource: i)
    }
}

extension SSDModel {
    /// The forward pass as stages, in execution order (see `ForwardStage`).
    public var stages: [ForwardStage] { (0..<network.stageCount).map { network.stage($0) } }

    /// The stage that runs the conv `name`, or nil if no conv has that name.
    public func stage(ofConvolution name: String) -> Int? {
        (0..<network.stageCount).first { network.stage($0).convolutions.contains(name) }
    }

    /// The state before stage 0 for a preprocessed image `[1, 3, 300, 300]` (shares the input's storage).
    public func startState(_ input: Tensor) -> ForwardState {
        precondition(input.shape == [1, 3, Self.inputSize, Self.inputSize],
                     "SSDModel.startState expects [1, 3, 300, 300], got \(input.shape)")
        return ForwardState(stage: 0, current: input, layout: .nchw,
                            outputs: HeadOutputs(priors: priors.count, classes: classes))
    }

    /// Runs stages `state.stage ..< stage` of this model, moving `state` to `stage`.
    /// - Parameters:
    ///   - workspace: its engine runs the stages (oneDNN unless a hook is given; the state then holds NHWC).
    ///   - hook: sees (and may replace) the inputs of the convs run.
    public func advance(_ state: inout ForwardState, to stage: Int, workspace ws: inout SSDWorkspace,
                        hook: ConvInputHook? = nil) {
        precondition(state.stage <= stage && stage <= network.stageCount,
                     "cannot advance a state at stage \(state.stage) to \(stage)")
        guard state.stage < stage else { return }
        checkShape(state.outputs)
        if hook == nil, ws.engine == .onednn,
           let program = ws.compiled(for: self, stages: state.stage..<stage, input: state.current.shape,
                                     nchw: state.layout == .nchw) {
            let o = program.output, n = o.channels * o.height * o.width
            var next = [Float](repeating: 0, count: n)
            do {
                try state.current.data.withUnsafeBufferPointer { x in
                    try next.withUnsafeMutableBufferPointer { y in
                        try program.run(x.baseAddress!, into: &state.outputs, exposing: y.baseAddress!)
                    }
                }
                state.current = Tensor(shape: [1, o.channels, o.height, o.width], data: next)
                state.layout = .nhwc
                state.stage = stage
                ws.lastEngine = .onednn
                return
            } catch {
                // The rows of the stages run were rewritten; rerunning them natively writes them again.
                ws.engineFailed(revision: revision, error)
            }
        }
        ws.lastEngine = .native
        copy(state.nchwCurrent, into: &ws.current)
        for k in state.stage..<stage { network.runStage(k, &ws, into: &state.outputs, hook: hook) }
        // A fresh, exactly sized copy: the workspace buffer may have the capacity of the largest activation it
        // ever held, and states are kept for many images at once.
        let n = ws.current.count
        let data = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            ws.current.data.withUnsafeBufferPointer { src in
                if let s = src.baseAddress, let d = buffer.baseAddress { d.initialize(from: s, count: n) }
            }
            initialized = n
        }
        state.current = Tensor(shape: ws.current.shape, data: data)
        state.layout = .nchw
        state.stage = stage
    }

    /// Finishes the forward pass from `state` with this model: `out` gets `state.outputs` with the rows of
    /// every later head filled in. When `state` was made by this model's own (or an identical) earlier stages,
    /// the result equals `forward` of the image bit for bit; a model differing only in stages `≥ state.stage`
    /// gives what that model's `forward` gives.
    public func resume(_ state: ForwardState, into out: inout HeadOutputs, workspace ws: inout SSDWorkspace,
                       hook: ConvInputHook? = nil) {
        checkShape(state.outputs)
        copy(state.outputs, into: &out)
        guard state.stage < network.stageCount else { return }
        if hook == nil, runOnEngine(state, stages: state.stage..<network.stageCount, into: &out, workspace: &ws) {
            return
        }
        copy(state.outputs, into: &out)
        copy(state.nchwCurrent, into: &ws.current)
        for k in state.stage..<network.stageCount { network.runStage(k, &ws, into: &out, hook: hook) }
    }

    /// Runs `stages` from `state` on the workspace's oneDNN program, if it prefers and has one; false when the
    /// native engine must run them (`out` may then be partly written).
    private func runOnEngine(_ state: ForwardState, stages: Range<Int>, into out: inout HeadOutputs,
                             workspace ws: inout SSDWorkspace) -> Bool {
        guard ws.engine == .onednn,
              let program = ws.compiled(for: self, stages: stages, input: state.current.shape,
                                        nchw: state.layout == .nchw) else {
            ws.lastEngine = .native
            return false
        }
        do {
            try state.current.data.withUnsafeBufferPointer { x in try program.run(x.baseAddress!, into: &out) }
            ws.lastEngine = .onednn
            return true
        } catch {
            ws.engineFailed(revision: revision, error)
            return false
        }
    }

    /// Re-runs only the head stage `state.stage` over complete outputs: `out` gets `complete` with that source's
    /// rows recomputed by this model. Heads feed nothing else, so when `complete` are the outputs of the model
    /// that made `state` and this model differs from it only in those heads, `out` equals this model's `forward`.
    public func rerunHeads(_ state: ForwardState, completing complete: HeadOutputs, into out: inout HeadOutputs,
                           workspace ws: inout SSDWorkspace, hook: ConvInputHook? = nil) {
        precondition(state.stage < network.stageCount && network.stage(state.stage).headSource != nil,
                     "rerunHeads needs a state before a head stage, got stage \(state.stage)")
        checkShape(complete)
        copy(complete, into: &out)
        if hook == nil, runOnEngine(state, stages: state.stage..<(state.stage + 1), into: &out, workspace: &ws) {
            return
        }
        copy(complete, into: &out)
        copy(state.nchwCurrent, into: &ws.current)
        network.runStage(state.stage, &ws, into: &out, hook: hook)
    }

    private func checkShape(_ outputs: HeadOutputs) {
        precondition(outputs.priorCount == priors.count && outputs.classes == classes,
                     "head outputs of another model")
    }

    /// Copies into `y`'s own storage: running on a shared buffer would copy it on the first write anyway, and
    /// reusing the workspace's keeps steady-state resumption allocation-free.
    private func copy(_ x: Tensor, into y: inout Tensor) {
        y.reshapeForOutput(x.shape)
        Self.copy(x.data, into: &y.data)
    }

    private func copy(_ x: HeadOutputs, into y: inout HeadOutputs) {
        guard y.priorCount == x.priorCount, y.classes == x.classes else {
            y = x
            return
        }
        Self.copy(x.confidences, into: &y.confidences)
        Self.copy(x.locations, into: &y.locations)
    }

    private static func copy(_ x: [Float], into y: inout [Float]) {
        precondition(x.count == y.count, "copy between buffers of different sizes")
        y.withUnsafeMutableBufferPointer { dst in
            x.withUnsafeBufferPointer { src in
                guard let d = dst.baseAddress, let s = src.baseAddress else { return }
                d.update(from: s, count: src.count)
            }
        }
    }
}
