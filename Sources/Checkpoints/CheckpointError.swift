import Foundation

/// Why a checkpoint could not be read or written. Every case names the file; the description is one line
/// that the CLI prints as is.
public enum CheckpointError: LocalizedError, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read (missing, permissions, I/O).
    case unreadable(file: String, reason: String)
    /// The first bytes match none of the supported formats.
    case unknownFormat(file: String, firstBytes: String)
    /// The file ends before the data it declares (byte offset where more was needed).
    case truncated(file: String, offset: Int, needed: String)
    /// The pickle names a Python global outside the allow-list. It is never resolved or executed.
    case forbiddenGlobal(file: String, offset: Int, global: String)
    /// The pickle stream is malformed or uses an opcode this restricted reader refuses.
    case malformedPickle(file: String, offset: Int, problem: String)
    /// The container (zip entries, legacy header, safetensors header) is inconsistent.
    case malformedContainer(file: String, problem: String)
    /// A tensor's description is inconsistent (bad view, size mismatch, unsupported dtype).
    case malformedTensor(file: String, key: String, problem: String)
    /// A tensor was asked for in a representation its dtype does not convert to.
    case dtypeMismatch(key: String, actual: TensorDType, expected: String)
    /// Writing the output failed.
    case unwritable(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read the file: \(reason)"
        case let .unknownFormat(file, _) where file.lowercased().hasSuffix(".onnx"):
            return "\(file): an ONNX model: mpq reads PyTorch (.pth zip or legacy) and safetensors checkpoints and "
                + "its own quantized model files, not ONNX (mpq export writes ONNX from them)"
        case let .unknownFormat(file, firstBytes):
            return "\(file): not a PyTorch (.pth zip or legacy) or safetensors checkpoint (first bytes: \(firstBytes))"
        case let .truncated(file, offset, needed):
            return "\(file): truncated at byte \(offset): expected \(needed)"
        case let .forbiddenGlobal(file, offset, global):
            return "\(file): refusing pickle global '\(global)' at byte \(offset): only state-dict globals "
                + "(OrderedDict, tensor rebuild functions, storage types) are allowed; nothing was executed "
                + "(a whole pickled model must be re-saved as its state_dict())"
        case let .malformedPickle(file, offset, problem):
            return "\(file): malformed pickle at byte \(offset): \(problem)"
        case let .malformedContainer(file, problem):
            return "\(file): \(problem)"
        case let .malformedTensor(file, key, problem):
            let name = key.isEmpty ? "tensor" : "tensor '\(key)'"
            return file.isEmpty ? "\(name): \(problem)" : "\(file): \(name): \(problem)"
        case let .dtypeMismatch(key, actual, expected):
            return "\(key.isEmpty ? "tensor" : "tensor '\(key)'"): dtype \(actual.rawValue) cannot be read as \(expected)"
        case let .unwritable(file, reason):
            return "\(file): cannot write the file: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
