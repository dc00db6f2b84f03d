import Foundation

/// Options a job refuses once it runs or parses them (a malformed `--shard`, calibration images from the evaluation
/// split): the CLI reports it as ArgumentParser reports a `ValidationError` (the message, the usage, exit 64), the
/// text unchanged.
public struct OptionsError: LocalizedError, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
