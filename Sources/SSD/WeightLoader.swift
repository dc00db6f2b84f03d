import Tensors

/// Named tensors a network is built from: a checkpoint's state dict, or generated weights in tests.
public protocol NamedTensorSource {
    /// All tensor names, in file order.
    var tensorNames: [String] { get }
    /// The shape of a tensor, or nil if absent.
    func shape(of name: String) -> [Int]?
    /// A tensor's values converted to float32, row-major.
    func floatValues(of name: String) throws -> [Float]
}

/// Strict, shape-checked reading of a network's tensors (like `load_state_dict(strict=True)`): every key read
/// is recorded, and `finish()` rejects keys nobody read. Channel counts come from the tensors' shapes, so any
/// width multiplier or class count loads; only the layer kinds, kernel sizes and strides are fixed by the
/// architecture.
struct WeightLoader {
    let source: any NamedTensorSource
    let file: String
    private(set) var used = Set<String>()

    init(source: any NamedTensorSource, file: String) {
        self.source = source
        self.file = file
    }

    func has(_ key: String) -> Bool { source.shape(of: key) != nil }

    /// Reads `key`, whose shape must match `expected` (nil entries: any extent).
    mutating func tensor(_ key: String, _ expected: [Int?]) throws -> (shape: [Int], values: [Float]) {
        guard let shape = source.shape(of: key) else { throw SSDModelError.missingKey(file: file, key: key) }
        let fits = shape.count == expected.count && zip(shape, expected).allSatisfy { $1 == nil || $0 == $1 }
            && shape.allSatisfy { $0 > 0 }
        guard fits else {
            let text = "[" + expected.map { $0.map(String.init) ?? "*" }.joined(separator: ", ") + "]"
            throw SSDModelError.wrongShape(file: file, key: key, expected: text, actual: shape)
        }
        let values: [Float]
        do {
            values = try source.floatValues(of: key)
        } catch {
            throw SSDModelError.unreadableTensor(file: file, key: key, problem: "\(error)")
        }
        guard values.count == shape.reduce(1, *) else {
            throw SSDModelError.unreadableTensor(file: file, key: key,
                                                 problem: "\(values.count) values for shape \(shape)")
        }
        used.insert(key)
        return (shape, values)
    }

    /// Builds one conv (+ folded BatchNorm + activation).
    /// - Parameters:
    ///   - name: the conv's key prefix; reads `name.weight` and, if `bias`, `name.bias`.
    ///   - inChannels: channels of the input, from the layer before.
    ///   - outChannels: required output channels, or nil to read them from the weight's shape.
    ///   - depthwise: groups = channels (weight `[C, 1, k, k]`, C == inChannels).
    ///   - batchNorm: key prefix of a BatchNorm2d to fold (`weight`, `bias`, `running_mean`, `running_var`;
    ///     `num_batches_tracked` is consumed when present: files from PyTorch < 0.4.1 lack it). When the BN's
    ///     keys are absent and the conv has a bias, the file is an already-folded export.
    mutating func conv(_ name: String, inChannels: Int, outChannels: Int? = nil, kernel: Int, stride: Int = 1,
                       padding: Int = 0, dilation: Int = 1, depthwise: Bool = false, bias: Bool,
                       batchNorm: String? = nil, activation: Activation) throws -> ConvUnit {
        let expected: [Int?] = depthwise ? [inChannels, 1, kernel, kernel] : [outChannels, inChannels, kernel, kernel]
        let w = try tensor(name + ".weight", expected)
        let out = w.shape[0]
        // A file written by `SSDModel.foldedTensors()` has the BatchNorm already folded: no BN keys, a conv bias.
        let folded = batchNorm.map { !has($0 + ".weight") && has(name + ".bias") } ?? false
        var b: [Float]? = bias || folded ? try tensor(name + ".bias", [out]).values : nil
        var weight = Tensor(shape: w.shape, data: w.values)
        if let bn = batchNorm, !folded {
            let gamma = try tensor(bn + ".weight", [out]).values
            let beta = try tensor(bn + ".bias", [out]).values
            let mean = try tensor(bn + ".running_mean", [out]).values
            let variance = try tensor(bn + ".running_var", [out]).values
            try consumeBatchCounter(bn)
            let folded = foldBatchNorm(weight: weight, bias: b, gamma: gamma, beta: beta, mean: mean,
                                       variance: variance, eps: 1e-5)
            weight = folded.weight
            b = folded.bias
        }
        let conv = Conv2D(weight: weight, bias: b ?? [Float](repeating: 0, count: out), stride: stride,
                          padding: padding, dilation: dilation, groups: depthwise ? inChannels : 1,
                          activation: activation)
        return ConvUnit(name: name, foldedBatchNorm: batchNorm, conv: conv)
    }

    /// A BatchNorm2d kept as a per-channel affine map `y = x * scale + shift` (one that follows a ReLU and so
    /// cannot be folded into a conv): `scale = gamma / sqrt(var + 1e-5)`, `shift = beta - mean * scale`.
    mutating func batchNormAffine(_ name: String, channels: Int) throws -> ChannelAffine {
        let gamma = try tensor(name + ".weight", [channels]).values
        let beta = try tensor(name + ".bias", [channels]).values
        let mean = try tensor(name + ".running_mean", [channels]).values
        let variance = try tensor(name + ".running_var", [channels]).values
        try consumeBatchCounter(name)
        var scale = [Float](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            scale[c] = gamma[c] / (variance[c] + Float(1e-5)).squareRoot()
            shift[c] = beta[c] - mean[c] * scale[c]
        }
        return ChannelAffine(name: name, scale: scale, shift: shift,
                             original: [("weight", gamma), ("bias", beta), ("running_mean", mean),
                                        ("running_var", variance)])
    }

    private mutating func consumeBatchCounter(_ bn: String) throws {
        let key = bn + ".num_batches_tracked"
        if let shape = source.shape(of: key) {
            guard shape.reduce(1, *) == 1 else {
                throw SSDModelError.wrongShape(file: file, key: key, expected: "[]", actual: shape)
            }
            used.insert(key)
        }
    }

    /// Throws for keys that no layer read.
    func finish() throws {
        let extra = source.tensorNames.filter { !used.contains($0) }
        if !extra.isEmpty { throw SSDModelError.unexpectedKeys(file: file, keys: extra) }
    }
}
