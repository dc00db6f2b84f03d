import Foundation
import Parallelism

/// A PASCAL VOC dataset: a `VOCdevkit/VOCxxxx` root and one split of it.
///
/// Layout: `<root>/ImageSets/Main/<split>.txt` lists the image ids (one per line; the first white-space
/// separated token is the id, so the per-class files `dog_trainval.txt` with their `±1` column also work;
/// blank lines ignored), `<root>/Annotations/<id>.xml` and `<root>/JPEGImages/<id>.jpg`.
/// Annotations are read lazily (`annotation(for:)`) or all at once in parallel (`loadAnnotations`).
public struct VOCDataset: Sendable {
    public let root: URL
    public let split: String
    public let classes: ClassList
    /// Image ids in split-file order.
    public let imageIDs: [String]

    /// Opens a split: reads the split file only.
    /// - Parameters:
    ///   - classes: the class list; nil = `ClassList.forDataset(root:)` (`labels.txt` if present, else VOC's 20).
    /// - Throws: `DatasetError` if the root or split file is missing (listing the splits that exist), the split
    ///   file is empty or repeats an id (naming both lines); `ClassListError` for a bad `labels.txt`.
    public init(root: URL, split: String, classes: ClassList? = nil) throws {
        self.root = root
        self.split = split
        guard !split.isEmpty, !split.contains("/"), split != ".", split != ".." else {
            throw DatasetError(file: root.path, line: nil, problem: "invalid split name '\(split)'")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError(file: root.path, line: nil, problem: "dataset root does not exist or is not a folder")
        }
        self.classes = try classes ?? ClassList.forDataset(root: root)
        let splitFile = root.appendingPathComponent("ImageSets/Main/\(split).txt")
        let text: String
        do {
            text = try String(contentsOf: splitFile, encoding: .utf8)
        } catch {
            let known = VOCDataset.availableSplits(root: root)
            let hint = known.isEmpty ? "no split files in ImageSets/Main (is this a VOCdevkit/VOCxxxx folder?)"
                : "splits present: \(known.joined(separator: ", "))"
            throw DatasetError(file: splitFile.path, line: nil, problem: "split '\(split)' not found; \(hint)")
        }
        var ids: [String] = []
        var lineOf: [String: Int] = [:]
        // `isNewline` also splits "\r\n", which Swift holds as one Character.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (offset, line) in lines.enumerated() {
            guard let token = line.split(whereSeparator: \.isWhitespace).first else {
                continue
            }
            let id = String(token)
            if let first = lineOf[id] {
                throw DatasetError(file: splitFile.path, line: offset + 1,
                                   problem: "image id '\(id)' is listed twice (first on line \(first))")
            }
            guard !id.contains("/"), id != ".", id != ".." else {
                throw DatasetError(file: splitFile.path, line: offset + 1, problem: "invalid image id '\(id)'")
            }
            lineOf[id] = offset + 1
            ids.append(id)
        }
        guard !ids.isEmpty else {
            throw DatasetError(file: splitFile.path, line: nil, problem: "the split file lists no image ids")
        }
        imageIDs = ids
    }

    /// Split names found in `<root>/ImageSets/Main` (`train`, `val`, `test`...), sorted; the per-class files
    /// (`dog_train.txt`) are left out when their prefix is a VOC class.
    public static func availableSplits(root: URL) -> [String] {
        let folder = root.appendingPathComponent("ImageSets/Main")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.filter { $0.hasSuffix(".txt") }
            .map { String($0.dropLast(4)) }
            .filter { name in
                guard let underscore = name.firstIndex(of: "_") else { return true }
                return !ClassList.voc.contains(String(name[..<underscore]))
            }
            .sorted()
    }

    /// `<root>/Annotations/<id>.xml`.
    public func annotationURL(_ id: String) -> URL {
        root.appendingPathComponent("Annotations").appendingPathComponent(id + ".xml")
    }

    /// `<root>/JPEGImages/<id>.jpg`.
    public func imageURL(_ id: String) -> URL {
        root.appendingPathComponent("JPEGImages").appendingPathComponent(id + ".jpg")
    }

    /// Reads one annotation.
    /// - Parameter checkClasses: when true (default) an object of a class outside `classes` is an error.
    /// - Throws: `AnnotationError`.
    public func annotation(for id: String, checkClasses: Bool = true) throws -> VOCAnnotation {
        try AnnotationParser.parse(fileAt: annotationURL(id), classes: checkClasses ? classes : nil)
    }

    /// Reads every annotation of the split on `threads` threads.
    /// - Returns: annotations in split order, whatever the thread count.
    /// - Throws: the error of the **first failing id in split order** (deterministic), after all work ends.
    public func loadAnnotations(threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                                checkClasses: Bool = true) throws -> [VOCAnnotation] {
        let results = loadAnnotationResults(threads: threads, checkClasses: checkClasses)
        return try results.map { try $0.get() }
    }

    /// Reads every annotation, keeping going after errors: one result per id, in split order.
    public func loadAnnotationResults(threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                                      checkClasses: Bool = true) -> [Result<VOCAnnotation, AnnotationError>] {
        let ids = imageIDs
        return OrderedParallel.map(count: ids.count, threads: threads) { index in
            do {
                return .success(try annotation(for: ids[index], checkClasses: checkClasses))
            } catch let error as AnnotationError {
                return .failure(error)
            } catch {
                return .failure(AnnotationError(file: annotationURL(ids[index]).path, kind: .unreadable,
                                                problem: error.localizedDescription))
            }
        }
    }
}
