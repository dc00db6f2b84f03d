import Tensors

/// The raw outputs of the detection heads for one image, in the reference's prior order (source by source;
/// within a source row y, column x, then anchor slot fastest).
public struct HeadOutputs: Sendable, Equatable {
    /// `[P, C]` row-major class logits (before softmax).
    public var confidences: [Float]
    /// `[P, 4]` row-major box offsets `(dx, dy, dw, dh)` (before decoding).
    public var locations: [Float]
    public let classes: Int

    public init(priors: Int, classes: Int) {
        confidences = [Float](repeating: 0, count: priors * classes)
        locations = [Float](repeating: 0, count: priors * 4)
        self.classes = classes
    }

    public var priorCount: Int { locations.count / 4 }

    /// Writes a head's NCHW map `[1, A * K, H, W]` as rows `[H * W * A, K]` starting at prior `offset`
    /// (`permute(0, 2, 3, 1).reshape(-1, K)`).
    static func scatter(_ map: Tensor, rowLength k: Int, offset: Int, into out: inout [Float]) {
        let channels = map.shape[1], hw = map.shape[2] * map.shape[3]
        let base = offset * k
        precondition(base + channels * hw <= out.count, "head output overruns the prior count")
        map.data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for ch in 0..<channels {
                    for i in 0..<hw { dst[base + i * channels + ch] = src[ch * hw + i] }
                }
            }
        }
    }
}

/// Buffers reused across images by `SSDModel.forward`, so steady-state inference allocates (almost) nothing.
/// One workspace per concurrent caller.
public struct SSDWorkspace {
    var current = Tensor(shape: [0], data: [])
    var spare = Tensor(shape: [0], data: [])
    var extra = Tensor(shape: [0], data: [])
    var source = Tensor(shape: [0], data: [])
    var headHidden = Tensor(shape: [0], data: [])
    var headOut = Tensor(shape: [0], data: [])
    /// The regression head's output when both heads of a source run from one patch matrix.
    var pairedHeadOut = Tensor(shape: [0], data: [])
    var scratch: [Float] = []

    /// The executor `SSDModel.forward` and the staged passes prefer (see `ForwardEngine`).
    public let engine: ForwardEngine
    /// The executor the last `forward` (or staged pass) ran on.
    public internal(set) var lastEngine: ForwardEngine?
    /// Why the preferred engine could not run the model (e.g. a conv oneDNN rejected), if it could not.
    public internal(set) var engineNote: String?
    /// Compiled oneDNN programs, most recently used first (see `compiled(for:)`).
    var compiledPrograms: [CompiledForward] = []
    /// The most recently used program.
    var compiledForward: CompiledForward? { compiledPrograms.first }
    var failedRevision: UInt64?

    /// Whether the oneDNN engine's eligible 3x3 float convs run as our Winograd kernels (see
    /// `OneDNNProgram.winogradDefault`; ignored on a CPU without AVX2 and FMA).
    public let winograd: Bool

    public init(engine: ForwardEngine = .default, winograd: Bool = OneDNNProgram.winogradDefault) {
        self.engine = engine
        self.winograd = winograd && OneDNNProgram.winogradSupported
    }

    /// The oneDNN implementation of each primitive of the most recently used program, in order (empty before the
    /// first oneDNN pass).
    public var engineImplementations: [String] { compiledForward?.implementations ?? [] }

    /// Bytes held by the compiled programs (activations, reordered weights, scratchpad).
    public var engineBytes: Int { compiledPrograms.reduce(0) { $0 + $1.program.bytes } }

    /// `current <- unit(current)`.
    mutating func step(_ unit: ConvUnit, hook: ConvInputHook?) {
        unit.run(current, into: &spare, scratch: &scratch, hook: hook)
        swap(&current, &spare)
    }

    /// `current <- pool(current)`.
    mutating func pool(_ pool: MaxPool2D) {
        pool(current, into: &spare)
        swap(&current, &spare)
    }
}

/// One detection head: a plain conv, or SSD-Lite's separable conv (depthwise 3x3 with bias + BN + ReLU6 at
/// `.0`/`.1`, then a 1x1 conv with bias at `.3`).
enum HeadLayer: ConvContainer, Sendable {
    case plain(ConvUnit)
    case separable(depthwise: ConvUnit, pointwise: ConvUnit)

    /// Output channels (`anchors * K`).
    var outChannels: Int {
        switch self {
        case let .plain(unit): return unit.conv.outChannels
        case let .separable(_, pointwise): return pointwise.conv.outChannels
        }
    }

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        switch self {
        case var .plain(unit):
            body(&unit)
            self = .plain(unit)
        case .separable(var dw, var pw):
            body(&dw)
            body(&pw)
            self = .separable(depthwise: dw, pointwise: pw)
        }
    }

    /// Runs the head on `x` and scatters its output rows of length `k` at prior `offset`.
    func run(_ x: Tensor, rowLength k: Int, offset: Int, into out: inout [Float], workspace ws: inout SSDWorkspace,
             hook: ConvInputHook?) {
        switch self {
        case let .plain(unit):
            unit.run(x, into: &ws.headOut, scratch: &ws.scratch, hook: hook)
        case let .separable(dw, pw):
            dw.run(x, into: &ws.headHidden, scratch: &ws.scratch, hook: hook)
            pw.run(ws.headHidden, into: &ws.headOut, scratch: &ws.scratch, hook: hook)
        }
        HeadOutputs.scatter(ws.headOut, rowLength: k, offset: offset, into: &out)
    }

    /// Loads head `prefix` (e.g. `classification_headers.2`) on `inChannels` inputs; `separable` selects the
    /// SSD-Lite form, otherwise a plain `kernel` x `kernel` conv with bias (padding keeps the size).
    static func load(_ prefix: String, inChannels: Int, outChannels: Int?, separable: Bool, kernel: Int,
                     loader: inout WeightLoader) throws -> HeadLayer {
        if separable {
            let dw = try loader.conv(prefix + ".0", inChannels: inChannels, kernel: 3, padding: 1, depthwise: true,
                                     bias: true, batchNorm: prefix + ".1", activation: .relu6)
            let pw = try loader.conv(prefix + ".3", inChannels: inChannels, outChannels: outChannels, kernel: 1,
                                     bias: true, activation: .identity)
            return .separable(depthwise: dw, pointwise: pw)
        }
        return .plain(try loader.conv(prefix, inChannels: inChannels, outChannels: outChannels, kernel: kernel,
                                      padding: kernel / 2, bias: true, activation: .identity))
    }
}

/// The classification and regression heads of all sources.
struct DetectionHeads: ConvContainer, Sendable {
    var classification: [HeadLayer]
    var regression: [HeadLayer]
    let classes: Int
    let anchors: [Int]
    /// First prior index of each source.
    let offsets: [Int]

    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        // Execution order: per source, classification then regression.
        for i in classification.indices { visitSource(i, body) }
    }

    /// Visits both heads of source `i`, classification first.
    mutating func visitSource(_ i: Int, _ body: (inout ConvUnit) -> Void) {
        classification[i].visitConvolutions(body)
        regression[i].visitConvolutions(body)
    }

    /// Runs both heads of `source` on `x`.
    func run(source i: Int, _ x: Tensor, into out: inout HeadOutputs, workspace ws: inout SSDWorkspace,
             hook: ConvInputHook?) {
        if hook == nil, let (cls, reg) = sharedPatchPair(source: i) {
            Conv2D.convolve(cls, reg, sharingPatchesOf: x, into: &ws.headOut, &ws.pairedHeadOut, scratch: &ws.scratch)
            HeadOutputs.scatter(ws.headOut, rowLength: classes, offset: offsets[i], into: &out.confidences)
            HeadOutputs.scatter(ws.pairedHeadOut, rowLength: 4, offset: offsets[i], into: &out.locations)
            return
        }
        runSeparately(source: i, x, into: &out, workspace: &ws, hook: hook)
    }

    /// Both heads of `source` one after the other, each laying out its own patches (what a hook needs: it sees,
    /// and may replace, each conv's input).
    func runSeparately(source i: Int, _ x: Tensor, into out: inout HeadOutputs, workspace ws: inout SSDWorkspace,
                       hook: ConvInputHook?) {
        classification[i].run(x, rowLength: classes, offset: offsets[i], into: &out.confidences, workspace: &ws,
                              hook: hook)
        regression[i].run(x, rowLength: 4, offset: offsets[i], into: &out.locations, workspace: &ws, hook: hook)
    }

    /// The two convs of `source` when they read the same windows of the same input (plain heads with equal
    /// geometry, neither reading a channel-split input): then one patch matrix serves both.
    func sharedPatchPair(source i: Int) -> (Conv2D, Conv2D)? {
        guard case let .plain(cls) = classification[i], case let .plain(reg) = regression[i],
              cls.inputChannelMap == nil, reg.inputChannelMap == nil, cls.conv.sharesPatches(with: reg.conv)
        else { return nil }
        return (cls.conv, reg.conv)
    }

    /// Loads `count` head pairs. `inChannels[i]` are the sources' channels; the class count comes from the
    /// first classification head and must be consistent in all.
    static func load(classificationPrefix: String, regressionPrefix: String, inChannels: [Int],
                     architecture: Architecture, separable: (Int) -> Bool, kernel: (Int) -> Int,
                     loader: inout WeightLoader) throws -> DetectionHeads {
        let anchors = architecture.anchorsPerCell
        var classification: [HeadLayer] = [], regression: [HeadLayer] = []
        var classes: Int?
        for (i, c) in inChannels.enumerated() {
            let cls = try HeadLayer.load("\(classificationPrefix).\(i)", inChannels: c,
                                         outChannels: classes.map { $0 * anchors[i] }, separable: separable(i),
                                         kernel: kernel(i), loader: &loader)
            if classes == nil {
                let key = separable(i) ? "\(classificationPrefix).\(i).3.weight" : "\(classificationPrefix).\(i).weight"
                guard cls.outChannels % anchors[i] == 0, cls.outChannels / anchors[i] >= 2 else {
                    throw SSDModelError.wrongShape(file: loader.file, key: key,
                                                   expected: "[\(anchors[i]) * classes (>= 2), ...]",
                                                   actual: loader.source.shape(of: key) ?? [])
                }
                classes = cls.outChannels / anchors[i]
            }
            classification.append(cls)
            regression.append(try HeadLayer.load("\(regressionPrefix).\(i)", inChannels: c,
                                                 outChannels: anchors[i] * 4, separable: separable(i),
                                                 kernel: kernel(i), loader: &loader))
        }
        var offsets: [Int] = [], total = 0
        for spec in architecture.priorSpecs {
            offsets.append(total)
            total += spec.featureMapSize * spec.featureMapSize * spec.boxesPerCell
        }
        return DetectionHeads(classification: classification, regression: regression, classes: classes ?? 2,
                              anchors: anchors, offsets: offsets)
    }
}
