import Tensors
import VOC

/// A network of one of the four architectures (internal: `SSDModel` is the public face).
protocol SSDNetwork: ConvContainer, StagedNetwork, Sendable {
    var architecture: Architecture { get }
    /// Classes including background.
    var classes: Int { get }
    /// Parameters outside the convolutions (source normalisations), as `(key, values [C])`.
    var otherTensors: [(String, [Float])] { get }
    /// Adds `stages` of the forward pass to `builder`, stage by stage as `runStage` runs them.
    func compile(_ builder: OneDNNBuilder, stages: Range<Int>) throws
}

extension SSDNetwork {
    var otherTensors: [(String, [Float])] { [] }

    /// Runs the network on `ws.current` (`[1, 3, 300, 300]`) and fills `out`: every stage in order, so the
    /// staged and the plain forward pass are one code path.
    func forward(_ ws: inout SSDWorkspace, into out: inout HeadOutputs, hook: ConvInputHook?) {
        for k in 0..<stageCount { runStage(k, &ws, into: &out, hook: hook) }
    }
}

/// A loaded SSD detector: architecture, class count, priors and the network with BatchNorm folded.
///
/// Typical use: `SSDModel(loading: stateDict, file: path)`, then `forward` per preprocessed image (raw head
/// outputs), then `scoresAndBoxes` (softmax + decoding) and `detections` (per-class NMS). Quantizers list the
/// convolutions with `convolutions`, swap weights with `replaceConvolution`, and observe or alter conv inputs
/// with a `ConvInputHook`.
public struct SSDModel: Sendable {
    public let architecture: Architecture
    /// Number of classes including the background (class 0): 21 for VOC.
    public let classes: Int
    public let priors: PriorBoxes
    var network: any SSDNetwork
    /// Changes with every load and weight change (names the weights a workspace compiled).
    var revision = ModelRevision.next()

    /// The network input side (both repositories use 300x300).
    public static let inputSize = 300

    /// Builds the network from named tensors, strictly: every tensor must be used and every shape fit.
    /// - Parameters:
    ///   - source: the tensors (a checkpoint's state dict, with any `module.` prefix already removed).
    ///   - file: names the file in errors.
    ///   - architecture: forces an architecture; nil detects it from the keys.
    /// - Throws: `SSDModelError` naming the file and the offending key.
    public init(loading source: any NamedTensorSource, file: String, architecture: Architecture? = nil) throws {
        guard let arch = architecture ?? Architecture.detect(keys: source.tensorNames) else {
            throw SSDModelError.unknownArchitecture(file: file, sampleKeys: Array(source.tensorNames.prefix(4)))
        }
        var loader = WeightLoader(source: source, file: file)
        switch arch {
        case .mb2SSDLite: network = try MobileNetV2SSDLite(loader: &loader)
        case .mb1SSD: network = try MobileNetV1SSD(loader: &loader)
        case .vgg16SSD: network = try VGG16SSD(loader: &loader)
        case .ssd300VGG16: network = try SSD300(loader: &loader)
        }
        try loader.finish()
        self.architecture = arch
        classes = network.classes
        priors = arch.priors
    }

    /// Every convolution in execution order (BatchNorm folded), named by its checkpoint key prefix.
    public var convolutions: [ConvUnit] {
        var copy = network
        var units: [ConvUnit] = []
        copy.visitConvolutions { units.append($0) }
        return units
    }

    /// Replaces the (folded) weight and bias of the convolution `name`; stride, padding, groups and activation
    /// stay. Used to install quantized weights.
    /// - Throws: `SSDModelError.unknownConvolution` if no conv has that name, `.wrongShape` if the weight's shape
    ///   differs from the current one or the bias count from its output channels.
    public mutating func replaceConvolution(named name: String, weight: Tensor, bias: [Float]) throws {
        var found = false
        var failure: SSDModelError?
        network.visitConvolutions { unit in
            guard unit.name == name else { return }
            found = true
            guard weight.shape == unit.conv.weight.shape, bias.count == unit.conv.outChannels else {
                failure = .wrongShape(file: "model", key: name + ".weight", expected: "\(unit.conv.weight.shape)",
                                      actual: weight.shape)
                return
            }
            unit.conv = unit.conv.replacingWeight(weight, bias: bias)
        }
        revision = ModelRevision.next()
        if let failure { throw failure }
        if !found { throw SSDModelError.unknownConvolution(name: name) }
    }

    /// Runs the network on one preprocessed image.
    /// - Parameters:
    ///   - input: `[1, 3, 300, 300]` float32 CHW, normalised per `architecture.preprocessing`.
    ///   - out: receives the raw head outputs (reused across calls; sized on first use).
    ///   - workspace: buffers reused across calls.
    ///   - hook: sees (and may replace) every conv's input (then the native engine runs).
    ///   - quantization: fake quantization of conv inputs (an activation-quantized model); both engines run it,
    ///     before `hook` when both are given.
    public func forward(_ input: Tensor, into out: inout HeadOutputs, workspace: inout SSDWorkspace,
                        hook: ConvInputHook? = nil, quantization: InputQuantization? = nil) {
        precondition(input.shape == [1, 3, Self.inputSize, Self.inputSize],
                     "SSDModel.forward expects [1, 3, 300, 300], got \(input.shape)")
        if out.priorCount != priors.count || out.classes != classes {
            out = HeadOutputs(priors: priors.count, classes: classes)
        }
        if hook == nil, workspace.engine == .onednn,
           let compiled = workspace.compiled(for: self, quantization: quantization) {
            do {
                try compiled.run(input, into: &out)
                workspace.lastEngine = .onednn
                return
            } catch {
                // The native engine below recomputes every output.
                workspace.engineFailed(revision: revision, error)
            }
        }
        workspace.lastEngine = .native
        var hook = hook
        if let q = quantization?.hook {
            hook = hook.map { user in { name, x in user(name, q(name, x)) } } ?? q
        }
        // Copy into the workspace's own storage: sharing the caller's buffer would force a copy-on-write later.
        workspace.current.reshapeForOutput(input.shape)
        workspace.current.data.withUnsafeMutableBufferPointer { dst in
            input.data.withUnsafeBufferPointer { src in
                guard let d = dst.baseAddress, let s = src.baseAddress else { return }
                d.update(from: s, count: src.count)
            }
        }
        network.forward(&workspace, into: &out, hook: hook)
    }

    /// `forward` returning fresh outputs.
    public func forward(_ input: Tensor, workspace: inout SSDWorkspace, hook: ConvInputHook? = nil,
                        quantization: InputQuantization? = nil) -> HeadOutputs {
        var out = HeadOutputs(priors: priors.count, classes: classes)
        forward(input, into: &out, workspace: &workspace, hook: hook, quantization: quantization)
        return out
    }

    /// Softmax over classes and box decoding.
    /// - Returns: `scores` `[P, C]` probabilities and `boxes` `[P, 4]` normalised corners `(x1, y1, x2, y2)`,
    ///   unclipped, prior order.
    public func scoresAndBoxes(_ head: HeadOutputs) -> (scores: [Float], boxes: [Float]) {
        var scores: [Float] = [], boxes: [Float] = []
        scoresAndBoxes(head, scores: &scores, boxes: &boxes)
        return (scores, boxes)
    }

    /// `scoresAndBoxes` into caller-owned buffers (reused when they already have the right size).
    public func scoresAndBoxes(_ head: HeadOutputs, scores: inout [Float], boxes: inout [Float]) {
        if scores.count != head.confidences.count { scores = [Float](repeating: 0, count: head.confidences.count) }
        if boxes.count != head.locations.count { boxes = [Float](repeating: 0, count: head.locations.count) }
        scores.withUnsafeMutableBufferPointer { dst in
            head.confidences.withUnsafeBufferPointer { src in
                guard let d = dst.baseAddress, let s = src.baseAddress else { return }
                d.update(from: s, count: src.count)
            }
        }
        softmax(rows: head.priorCount, cols: head.classes, &scores)
        let decoder = architecture.boxDecoder
        head.locations.withUnsafeBufferPointer { l in
            priors.centerForm.withUnsafeBufferPointer { p in
                boxes.withUnsafeMutableBufferPointer { b in decoder.decode(locations: l, priors: p, into: b) }
            }
        }
    }

    /// The reference post-processing (per-class NMS) of decoded outputs, boxes scaled to `width` x `height`.
    /// - Parameters:
    ///   - scoreThreshold: candidates need a score above it (the reference uses 0.01).
    public func detections(scores: [Float], boxes: [Float], width: Int, height: Int,
                           scoreThreshold: Float = 0.01) -> [Detection] {
        var nms = architecture.nms
        nms.scoreThreshold = scoreThreshold
        return nms.detections(scores: scores, boxes: boxes, classes: classes, width: width, height: height)
    }
}
