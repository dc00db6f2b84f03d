import Foundation

/// A VOC annotation file that could not be read or does not follow the devkit format.
///
/// The message names the file, the line when one is known (libxml2's line for XML errors, the line of the
/// offending element for format errors) and what was wrong, e.g.
/// `Annotations/000001.xml:21: <object> 1 (dog) has no <bndbox>`.
public struct AnnotationError: LocalizedError, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, for callers (and tests) that branch on it; the text is in `problem`.
    public enum Kind: String, Sendable, Equatable {
        /// The file does not exist or cannot be read.
        case unreadable
        /// Zero bytes, or only white space.
        case empty
        /// Larger than `AnnotationParser.maximumFileSize`.
        case tooLarge
        /// Not well-formed XML (unclosed or mismatched tags, truncated file, bad characters...).
        case malformedXML
        /// A DTD declaring entities, or an entity reference: refused so nothing is ever expanded or loaded.
        case entity
        /// A required element (`<size>`, `<bndbox>`, `<xmin>`, `<name>`...) is missing or empty.
        case missingElement
        /// A number field holds something that is not a number (`12a`, `abc`, `1e5`, `nan`).
        case invalidNumber
        /// A box with `xmin > xmax` or `ymin > ymax`, or a size that is not positive.
        case invalidBox
        /// An object whose class is not in the class list in use.
        case unknownClass
    }

    public let file: String
    /// 1-based line in the file, when libxml2 or the element gives one.
    public let line: Int?
    public let kind: Kind
    public let problem: String

    public init(file: String, line: Int? = nil, kind: Kind, problem: String) {
        self.file = file
        self.line = line
        self.kind = kind
        self.problem = problem
    }

    public var errorDescription: String? {
        if let line { return "\(file):\(line): \(problem)" }
        return "\(file): \(problem)"
    }

    public var description: String { errorDescription ?? problem }
}
