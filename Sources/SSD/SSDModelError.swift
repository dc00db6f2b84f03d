import Foundation

/// A model file whose tensors do not form a supported SSD network.
public enum SSDModelError: LocalizedError, CustomStringConvertible, Equatable, Sendable {
    /// No architecture signature matched the keys.
    case unknownArchitecture(file: String, sampleKeys: [String])
    /// A tensor the network needs is absent.
    case missingKey(file: String, key: String)
    /// Tensors the network does not use (strict loading, like `load_state_dict(strict=True)`).
    case unexpectedKeys(file: String, keys: [String])
    /// A tensor has a shape that does not fit the network.
    case wrongShape(file: String, key: String, expected: String, actual: [Int])
    /// A tensor's values cannot be read as floats.
    case unreadableTensor(file: String, key: String, problem: String)
    /// `SSDModel.replaceConvolution` was given a name that no convolution has.
    case unknownConvolution(name: String)

    public var description: String {
        switch self {
        case let .unknownArchitecture(file, keys):
            let sample = keys.prefix(4).joined(separator: ", ")
            return "\(file): not a supported SSD checkpoint (no mb2-ssd-lite, mb1-ssd, vgg16-ssd or ssd300-vgg16 "
                + "key layout; first keys: \(sample.isEmpty ? "none" : sample)); pass --arch to force one"
        case let .missingKey(file, key):
            return "\(file): missing tensor '\(key)'"
        case let .unexpectedKeys(file, keys):
            let more = keys.count > 5 ? " and \(keys.count - 5) more" : ""
            return "\(file): unexpected tensor(s) \(keys.prefix(5).map { "'\($0)'" }.joined(separator: ", "))\(more)"
        case let .wrongShape(file, key, expected, actual):
            return "\(file): tensor '\(key)' has shape \(actual), expected \(expected)"
        case let .unreadableTensor(file, key, problem):
            return "\(file): tensor '\(key)': \(problem)"
        case let .unknownConvolution(name):
            return "the model has no convolution named '\(name)'"
        }
    }

    public var errorDescription: String? { description }
}
