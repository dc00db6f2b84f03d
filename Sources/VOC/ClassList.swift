import Foundation

/// The object classes of a dataset, in index order (0-based, **no background**: the networks' class `i + 1`
/// is `names[i]`).
///
/// The default is the 20 PASCAL VOC classes in the devkit's order. Custom datasets kept in VOC layout bring
/// their own list, from `--classes FILE` or from `labels.txt` in the dataset root (see `forDataset`).
public struct ClassList: Sendable, Equatable {
    /// Class names in index order.
    public let names: [String]
    /// The file the list came from, nil for the built-in VOC list.
    public let file: String?
    private let indexByName: [String: Int]

    /// The 20 PASCAL VOC classes, devkit order.
    public static let voc = ClassList(validatedNames: [
        "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ], file: nil)

    /// A list from names given in code.
    /// - Throws: `ClassListError` if the list is empty, a name is empty or a name is repeated.
    public init(names: [String]) throws {
        var seen: [String: Int] = [:]
        for (index, name) in names.enumerated() {
            guard !name.isEmpty else {
                throw ClassListError(file: "class list", line: nil, problem: "class \(index + 1) has an empty name")
            }
            if let first = seen[name] {
                throw ClassListError(file: "class list", line: nil,
                                     problem: "duplicate class '\(name)' (classes \(first + 1) and \(index + 1))")
            }
            seen[name] = index
        }
        guard !names.isEmpty else { throw ClassListError(file: "class list", line: nil, problem: "no classes") }
        self.init(validatedNames: names, file: nil)
    }

    private init(validatedNames names: [String], file: String?) {
        self.names = names
        self.file = file
        var indexByName: [String: Int] = [:]
        for (index, name) in names.enumerated() { indexByName[name] = index }
        self.indexByName = indexByName
    }

    /// Reads a class list file.
    ///
    /// Format: one class per line; blank lines and lines starting with `#` are ignored; surrounding white space
    /// (and a Windows `\r`) is trimmed. A line may also hold several names separated by commas, the
    /// `labels.txt` convention of qfgaohao/pytorch-ssd (`car,person,bike`). A first entry `BACKGROUND`
    /// (any case) is dropped, so the "model labels" files written by that repository also load: here the
    /// background class is implicit.
    /// - Throws: `ClassListError` naming the file (and line): unreadable, empty, an empty name between commas,
    ///   or a duplicate (naming both lines).
    public init(contentsOf url: URL) throws {
        let path = url.path
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            let missing = !FileManager.default.fileExists(atPath: path)
            throw ClassListError(file: path, line: nil,
                                 problem: missing ? "class list file does not exist"
                                     : "cannot read the file as UTF-8 text (\(error.localizedDescription))")
        }
        var names: [String] = []
        var lineOf: [String: Int] = [:]
        // `isNewline` also splits "\r\n", which Swift holds as one Character.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (offset, rawLine) in lines.enumerated() {
            let lineNumber = offset + 1
            var line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if offset == 0, line.hasPrefix("\u{FEFF}") { line = String(line.dropFirst()) }
            if line.isEmpty || line.hasPrefix("#") { continue }
            for piece in line.split(separator: ",", omittingEmptySubsequences: false) {
                let name = piece.trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty else {
                    throw ClassListError(file: path, line: lineNumber, problem: "empty class name between commas")
                }
                if names.isEmpty, lineOf.isEmpty, name.lowercased() == "background" {
                    lineOf[name] = lineNumber  // remembered only so a second BACKGROUND is a duplicate
                    continue
                }
                if let first = lineOf[name] {
                    throw ClassListError(file: path, line: lineNumber,
                                         problem: "duplicate class '\(name)' (first on line \(first))")
                }
                lineOf[name] = lineNumber
                names.append(name)
            }
        }
        guard !names.isEmpty else {
            throw ClassListError(file: path, line: nil, problem: "no class names in the file")
        }
        self.init(validatedNames: names, file: path)
    }

    /// The list a dataset uses: `explicit` if given, else `<root>/labels.txt` if it exists, else `.voc`.
    /// - Throws: `ClassListError` if the chosen file cannot be read or is invalid.
    public static func forDataset(root: URL, explicit: URL? = nil) throws -> ClassList {
        if let explicit { return try ClassList(contentsOf: explicit) }
        let labels = root.appendingPathComponent("labels.txt")
        if FileManager.default.fileExists(atPath: labels.path) { return try ClassList(contentsOf: labels) }
        return .voc
    }

    public var count: Int { names.count }

    /// The 0-based index of `name` (no background), or nil.
    public func index(of name: String) -> Int? { indexByName[name] }

    public func contains(_ name: String) -> Bool { indexByName[name] != nil }

    public subscript(index: Int) -> String { names[index] }

    /// "the 20 VOC classes" or "the class list <file>", for messages.
    public var sourceDescription: String {
        file.map { "the class list \($0)" } ?? "the \(names.count) VOC classes"
    }

    public static func == (lhs: ClassList, rhs: ClassList) -> Bool { lhs.names == rhs.names && lhs.file == rhs.file }
}
