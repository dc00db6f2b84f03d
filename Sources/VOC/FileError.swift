import Foundation

/// A problem with one input file, optionally at a 1-based line: `file:line: problem`, the one line the CLI prints.
///
/// `Kind` only keeps the error families apart as types (a class list, a dataset layout, a result file), so callers
/// can catch one family; all of them read and print the same way.
public struct FileError<Kind: FileErrorKind>: LocalizedError, CustomStringConvertible, Sendable, Equatable {
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

/// Tags the families of `FileError`.
public protocol FileErrorKind: Sendable {}

public enum ClassListKind: FileErrorKind {}
public enum DatasetKind: FileErrorKind {}
public enum ResultFileKind: FileErrorKind {}

/// A class list file that could not be used.
public typealias ClassListError = FileError<ClassListKind>
/// A dataset layout problem (missing root or split file, bad split file).
public typealias DatasetError = FileError<DatasetKind>
/// A devkit result file (`comp4_det_<split>_<class>.txt`) or evaluation journal that cannot be used.
public typealias ResultFileError = FileError<ResultFileKind>
