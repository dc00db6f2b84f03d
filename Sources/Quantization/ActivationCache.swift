import SSD
import Tensors

/// The float forward states of a set of images, all paused at one stage, for runs that change one layer at a time.
///
/// A run that quantizes a conv of stage `k` only changes what happens from stage `k` on, so it can start from
/// the float state before stage `k` instead of from the image (`SSDModel.resume`); a run that changes a head
/// re-runs only that head over the float outputs (`SSDModel.rerunHeads`). Layers are visited in execution order,
/// so the cache keeps **one** state per image and only ever moves it forward (`move(to:)`): memory is one
/// activation per image, not one per stage.
///
/// States larger than the budget are not kept: the cache then stays at an earlier (smaller) stage, and runs start
/// there — slower, same result. A budget of 0 keeps every image at stage 0, i.e. every run starts from the image.
struct ActivationCache {
    /// The float model that produced the states.
    let model: SSDModel
    private let inputs: [Tensor]
    private(set) var states: [ForwardState]
    /// Float outputs of every image (what a head-only rerun completes).
    let complete: [HeadOutputs]
    private let stages: [ForwardStage]
    /// `ForwardState.floatCount` at each stage boundary (the same for every image).
    private let stateFloats: [Int]
    private let budgetFloats: Int
    private var workspace = SSDWorkspace()

    /// - Parameters:
    ///   - complete: `model`'s outputs of each of `inputs` (the caller has them already).
    ///   - stateFloats: from `stateFloats(model)`.
    ///   - budgetBytes: the most the states of all images may hold together.
    init(model: SSDModel, inputs: [Tensor], complete: [HeadOutputs], stateFloats: [Int], budgetBytes: Int) {
        precondition(inputs.count == complete.count, "one float output per input")
        self.model = model
        self.inputs = inputs
        self.complete = complete
        self.stateFloats = stateFloats
        stages = model.stages
        states = inputs.map { model.startState($0) }
        budgetFloats = budgetBytes / MemoryLayout<Float>.size
    }

    /// The size of a state at every stage boundary `0 ... stages.count`, from one forward pass of a blank image.
    static func stateFloats(_ model: SSDModel) -> [Int] {
        let size = SSDModel.inputSize
        var state = model.startState(Tensor(zeros: [1, 3, size, size]))
        var workspace = SSDWorkspace()
        var floats = [state.floatCount]
        for k in 0..<model.stages.count {
            model.advance(&state, to: k + 1, workspace: &workspace)
            floats.append(state.floatCount)
        }
        return floats
    }

    /// The stage the states would be at for a run changing stage `k`, when they are now at `from`: `k` itself if
    /// its states fit the budget, else the latest stage in `from ... k` that fits (or `from`).
    static func target(for k: Int, from: Int, stateFloats: [Int], images: Int, budgetFloats: Int) -> Int {
        guard from <= k else { return 0 }
        for j in stride(from: k, to: from, by: -1) where stateFloats[j] * images <= budgetFloats { return j }
        return from
    }

    /// Moves every state to the stage to start from for a run changing stage `k` (back to the images if the walk
    /// went backwards).
    mutating func move(toRunStage k: Int) {
        let from = states.first?.stage ?? 0
        let target = Self.target(for: k, from: from, stateFloats: stateFloats, images: states.count,
                                 budgetFloats: budgetFloats)
        if target < from { states = inputs.map { model.startState($0) } }
        for i in states.indices { model.advance(&states[i], to: target, workspace: &workspace) }
    }

    /// Bytes the states hold now.
    var bytes: Int { states.reduce(0) { $0 + $1.floatCount } * MemoryLayout<Float>.size }

    /// `quantized`'s outputs for image `i`, where `quantized` differs from the float model only in stage `k`
    /// (the stage passed to the last `move(toRunStage:)`).
    /// `hook` (e.g. one conv's input grid) sees the inputs of the convs run; it must only change stage `k`'s.
    mutating func outputs(of quantized: SSDModel, stage k: Int, image i: Int, into out: inout HeadOutputs,
                          hook: ConvInputHook? = nil) {
        let state = states[i]
        precondition(state.stage <= k, "the cache is past stage \(k)")
        if state.stage == k, stages[k].headSource != nil {
            quantized.rerunHeads(state, completing: complete[i], into: &out, workspace: &workspace, hook: hook)
        } else {
            quantized.resume(state, into: &out, workspace: &workspace, hook: hook)
        }
    }
}
