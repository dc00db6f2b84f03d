import Foundation

/// A devkit result file (`comp4_det_<split>_<class>.txt`) that cannot be used.
public struct ResultFileError: LocalizedError, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    /// 1-based line number, or nil for problems with the whole file.
    public let line: Int?
    public let problem: String

    public init(file: String, line: Int?, problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    public var errorDescription: String? {
        if let line { return "\(file):\(line): \(problem)" }
        return "\(file): \(problem)"
    }
    public var description: String { errorDescription ?? problem }
}
