import Foundation
import Imaging
import Parallelism

/// One problem found by `DatasetChecker`: the file, the line when known, and what is wrong.
public struct DatasetProblem: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let problem: String

    public init(file: String, line: Int? = nil, problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    public var description: String {
        if let line { return "\(file):\(line): \(problem)" }
        return "\(file): \(problem)"
    }
}

/// Checks every image of a split and reports **every** problem, not just the first.
///
/// Per image id, in split order:
/// - the annotation parses (`AnnotationParser`; missing file, malformed XML, entities, missing fields,
///   non-numeric values, inverted boxes);
/// - every object's class is in the class list (one problem per object);
/// - every object box lies inside the image in VOC's 1-based inclusive frame: `1 <= xmin`, `1 <= ymin`,
///   `xmax <= width`, `ymax <= height`, with the size written in the annotation;
/// - the image `JPEGImages/<id>.jpg` exists and decodes completely (truncated and corrupt files are named);
/// - the decoded image size equals the annotation's `<size>` (boxes are in that frame, so a mismatch
///   silently shifts every ground-truth box).
public enum DatasetChecker {
    /// Runs the checks on `threads` threads; problems come back in split order whatever the thread count.
    /// - Parameter decodeImages: false skips the image checks (annotations only).
    public static func check(_ dataset: VOCDataset, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                             decodeImages: Bool = true) -> [DatasetProblem] {
        let ids = dataset.imageIDs
        return OrderedParallel.map(count: ids.count, threads: threads) { index in
            check(id: ids[index], in: dataset, decodeImages: decodeImages)
        }.flatMap { $0 }
    }

    /// The problems of one image id.
    public static func check(id: String, in dataset: VOCDataset, decodeImages: Bool = true) -> [DatasetProblem] {
        var problems: [DatasetProblem] = []
        let annotationPath = dataset.annotationURL(id).path
        var annotation: VOCAnnotation?
        do {
            annotation = try dataset.annotation(for: id, checkClasses: false)
        } catch let error as AnnotationError {
            problems.append(DatasetProblem(file: error.file, line: error.line, problem: error.problem))
        } catch {
            problems.append(DatasetProblem(file: annotationPath, problem: error.localizedDescription))
        }
        if let annotation {
            problems += objectProblems(annotation, file: annotationPath, classes: dataset.classes)
        }
        if decodeImages {
            problems += imageProblems(dataset.imageURL(id), annotation: annotation, annotationPath: annotationPath)
        }
        return problems
    }

    private static func objectProblems(_ annotation: VOCAnnotation, file: String,
                                       classes: ClassList) -> [DatasetProblem] {
        var problems: [DatasetProblem] = []
        for (index, object) in annotation.objects.enumerated() {
            let label = "<object> \(index + 1) (\(object.name))"
            if !classes.contains(object.name) {
                problems.append(DatasetProblem(file: file, problem: "\(label): unknown class '\(object.name)' "
                    + "(not in \(classes.sourceDescription))"))
            }
            let box = object.box
            if box.xmin < 1 || box.ymin < 1 || box.xmax > annotation.width || box.ymax > annotation.height {
                problems.append(DatasetProblem(file: file, problem: "\(label): box (xmin \(box.xmin), ymin "
                    + "\(box.ymin), xmax \(box.xmax), ymax \(box.ymax)) is outside the "
                    + "\(annotation.width)x\(annotation.height) image (VOC boxes are 1-based: 1...width, 1...height)"))
            }
        }
        return problems
    }

    private static func imageProblems(_ url: URL, annotation: VOCAnnotation?,
                                      annotationPath: String) -> [DatasetProblem] {
        guard FileManager.default.fileExists(atPath: url.path) else {
            return [DatasetProblem(file: url.path, problem: "image file does not exist")]
        }
        let image: RGBImage
        do {
            image = try JPEGDecoder.decode(fileAt: url)
        } catch let error as ImageError {
            return [DatasetProblem(file: error.file, problem: error.problem)]
        } catch {
            return [DatasetProblem(file: url.path, problem: error.localizedDescription)]
        }
        if let annotation, image.width != annotation.width || image.height != annotation.height {
            return [DatasetProblem(file: annotationPath, problem: "<size> says \(annotation.width)x"
                + "\(annotation.height) but the image \(url.lastPathComponent) decodes to \(image.width)x"
                + "\(image.height); boxes would be in the wrong frame")]
        }
        return []
    }
}
