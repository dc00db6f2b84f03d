import Checkpoints
import Foundation

/// A checkpoint's state dict feeds the network loader directly.
extension StateDict: NamedTensorSource {
    public var tensorNames: [String] { keys }
    public func shape(of name: String) -> [Int]? { self[name]?.shape }
    public func floatValues(of name: String) throws -> [Float] {
        guard let tensor = self[name] else { throw SSDModelError.missingKey(file: "", key: name) }
        return try tensor.floats()
    }
}

extension SSDModel {
    /// Loads a model file (`.pth` legacy or zip, or safetensors; wrappers and `module.` prefixes handled by
    /// `Checkpoint.load`) and builds the network.
    /// - Parameters:
    ///   - architecture: forces an architecture; nil detects it from the keys.
    /// - Returns: the model and the detected file format.
    /// - Throws: `CheckpointError` for unreadable files, `SSDModelError` for tensors that do not fit.
    public static func load(contentsOf url: URL, architecture: Architecture? = nil) throws
        -> (model: SSDModel, format: CheckpointFormat) {
        // A quantized model file (`mpq quantize --out`): the weights Σ a·q; activation ranges are not applied here.
        let loaded = try QuantizedFile.load(url, architecture: architecture)
        return (loaded.model, loaded.format)
    }
}

extension SSDModel {
    /// The model as a state dict with every BatchNorm folded into its conv (`name.weight`, `name.bias` per conv;
    /// the source normalisations' own tensors unchanged). `SSDModel(loading:)` reads it back to the same network,
    /// so a quantizer can save fake-quantized weights in a file `mpq detect` accepts.
    public func foldedStateDict() -> StateDict {
        var dict = StateDict()
        for unit in convolutions {
            dict.set(unit.name + ".weight", StoredTensor(floats: unit.conv.weight.data, shape: unit.conv.weight.shape))
            let bias = unit.conv.bias ?? [Float](repeating: 0, count: unit.conv.outChannels)
            dict.set(unit.name + ".bias", StoredTensor(floats: bias, shape: [bias.count]))
        }
        for (key, values) in network.otherTensors { dict.set(key, StoredTensor(floats: values, shape: [values.count])) }
        dict.metadata["architecture"] = architecture.rawValue
        dict.metadata["batchnorm"] = "folded"
        return dict
    }
}
