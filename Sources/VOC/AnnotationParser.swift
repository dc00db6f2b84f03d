import CLibXML2
import Foundation
import SafeIO

/// Reads PASCAL VOC annotation files (`Annotations/<id>.xml`) with libxml2 into `VOCAnnotation`.
///
/// Fields read: `folder` (optional), `filename`, `size` (`width`, `height`, `depth`; depth missing = 3),
/// `segmented` (missing = 0), and for every `<object>`: `name`, `pose` (optional), `truncated`, `difficult`,
/// `occluded` (each missing = 0, values 0 or 1), `bndbox` (`xmin ymin xmax ymax`, all required) and every
/// `<part>` (`name` + `bndbox`, the person layout of VOC2012). Unknown elements (`source`, `owner`...) are
/// ignored. Class names and text are trimmed of surrounding white space and otherwise kept as written.
///
/// **Coordinates.** The devkit writes integers in VOC's 1-based inclusive pixel frame. Tools that write
/// decimals (`273.5`) are accepted: the value is rounded to the nearest integer, **halves away from zero**
/// (`273.5 -> 274`, `12.49 -> 12`), i.e. MATLAB's `round`, the devkit's language. Accepted text is
/// `[+-]digits[.digits]` (or `.digits`); exponents, `nan`, `inf`, letters and empty values are errors.
/// Image size and flags must be integers.
///
/// **Checks.** `xmin <= xmax` and `ymin <= ymax` for every box (equal is a one-pixel box) and a positive
/// width and height; when a class list is given every object's name must be in it. Whether a box lies inside
/// the image is not a parse error (real VOC files have boxes touching the border): `mpq dataset check`
/// reports it.
///
/// **Safety.** At most `maximumFileSize` bytes; no network, no DTD loading, no entities (see
/// `LibXMLDocument`). Safe to call from many threads at once: each call has its own libxml2 context.
public enum AnnotationParser {
    /// Annotation files larger than this (1 MiB) are refused; the largest real VOC file is about 6 KB.
    public static let maximumFileSize = InputLimits.maxAnnotationBytes

    /// Parses the annotation file at `url`.
    /// - Parameters:
    ///   - classes: when given, an object whose name is not in the list is an `.unknownClass` error.
    ///   - displayName: how errors name the file (default: its path).
    /// - Throws: `AnnotationError` naming the file, the line when known, and the problem.
    public static func parse(fileAt url: URL, classes: ClassList? = nil,
                             displayName: String? = nil) throws -> VOCAnnotation {
        let name = displayName ?? url.path
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            // Read one byte past the cap so an oversized file is detected without reading all of it.
            data = try handle.read(upToCount: maximumFileSize + 1) ?? Data()
        } catch {
            let missing = !FileManager.default.fileExists(atPath: url.path)
            throw AnnotationError(file: name, kind: .unreadable,
                                  problem: missing ? "annotation file does not exist"
                                      : "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(data, file: name, classes: classes)
    }

    /// Parses annotation bytes held in memory; `file` names them in errors.
    /// - Throws: `AnnotationError` naming `file`, the line when known, and the problem.
    public static func parse(_ data: Data, file: String, classes: ClassList? = nil) throws -> VOCAnnotation {
        if data.count > maximumFileSize {
            throw AnnotationError(file: file, kind: .tooLarge,
                                  problem: "file is larger than \(maximumFileSize) bytes (1 MiB), the limit for "
                                      + "an annotation; refused")
        }
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            throw AnnotationError(file: file, kind: .empty,
                                  problem: data.isEmpty ? "empty file (0 bytes), expected VOC XML"
                                      : "file holds only white space, expected VOC XML")
        }
        let document = try LibXMLDocument(data, file: file)
        return try withExtendedLifetime(document) {
            guard let root = document.root else {
                throw AnnotationError(file: file, kind: .malformedXML, problem: "the XML has no root element")
            }
            try checkDepth(root, file: file)
            var reader = FieldReader(file: file)
            return try reader.annotation(root, classes: classes)
        }
    }
}

/// Walks one parsed document; every error carries the file and the offending element's line.
private struct FieldReader {
    let file: String

    func fail(_ node: xmlNodePtr?, _ kind: AnnotationError.Kind, _ problem: String) -> AnnotationError {
        AnnotationError(file: file, line: node.flatMap(LibXMLNode.line), kind: kind, problem: problem)
    }

    mutating func annotation(_ root: xmlNodePtr, classes: ClassList?) throws -> VOCAnnotation {
        guard LibXMLNode.name(root) == "annotation" else {
            throw fail(root, .missingElement,
                       "root element is <\(LibXMLNode.name(root))>, expected <annotation>")
        }
        let folder = LibXMLNode.first(root, named: "folder").map(LibXMLNode.text)
        let filename = try requiredText(root, "filename", context: "<annotation>")
        guard let size = LibXMLNode.first(root, named: "size") else {
            throw fail(root, .missingElement, "<annotation> has no <size>")
        }
        let width = try integer(size, "width", context: "<size>")
        let height = try integer(size, "height", context: "<size>")
        let depth = try optionalInteger(size, "depth", context: "<size>") ?? 3
        guard width > 0, height > 0 else {
            throw fail(size, .invalidBox, "image size \(width)x\(height) is not positive")
        }
        let segmented = try flag(root, "segmented", context: "<annotation>")

        var objects: [VOCObject] = []
        for (index, node) in LibXMLNode.elements(root, named: "object").enumerated() {
            objects.append(try object(node, number: index + 1, classes: classes))
        }
        return VOCAnnotation(folder: folder, filename: filename, width: width, height: height, depth: depth,
                             segmented: segmented, objects: objects)
    }

    private func object(_ node: xmlNodePtr, number: Int, classes: ClassList?) throws -> VOCObject {
        let context = "<object> \(number)"
        let name = try requiredText(node, "name", context: context)
        if let classes, !classes.contains(name) {
            throw fail(LibXMLNode.first(node, named: "name"), .unknownClass,
                       "\(context) has unknown class '\(name)' (not in \(classes.sourceDescription))")
        }
        let described = "\(context) (\(name))"
        let pose = LibXMLNode.first(node, named: "pose").map(LibXMLNode.text)
        let box = try bndbox(node, context: described)
        var parts: [VOCPart] = []
        for (index, partNode) in LibXMLNode.elements(node, named: "part").enumerated() {
            let partContext = "\(described) <part> \(index + 1)"
            let partName = try requiredText(partNode, "name", context: partContext)
            parts.append(VOCPart(name: partName, box: try bndbox(partNode, context: "\(partContext) (\(partName))")))
        }
        return VOCObject(name: name, pose: pose, truncated: try flag(node, "truncated", context: described),
                         difficult: try flag(node, "difficult", context: described),
                         occluded: try flag(node, "occluded", context: described), box: box, parts: parts)
    }

    private func bndbox(_ node: xmlNodePtr, context: String) throws -> PixelBox {
        guard let boxNode = LibXMLNode.first(node, named: "bndbox") else {
            throw fail(node, .missingElement, "\(context) has no <bndbox>")
        }
        let boxContext = "<bndbox> of \(context)"
        let box = PixelBox(xmin: try coordinate(boxNode, "xmin", context: boxContext),
                           ymin: try coordinate(boxNode, "ymin", context: boxContext),
                           xmax: try coordinate(boxNode, "xmax", context: boxContext),
                           ymax: try coordinate(boxNode, "ymax", context: boxContext))
        if box.xmin > box.xmax {
            throw fail(boxNode, .invalidBox, "\(boxContext): xmin \(box.xmin) > xmax \(box.xmax)")
        }
        if box.ymin > box.ymax {
            throw fail(boxNode, .invalidBox, "\(boxContext): ymin \(box.ymin) > ymax \(box.ymax)")
        }
        return box
    }

    // MARK: - Leaf values

    private func requiredText(_ node: xmlNodePtr, _ name: String, context: String) throws -> String {
        guard let child = LibXMLNode.first(node, named: name) else {
            throw fail(node, .missingElement, "\(context) has no <\(name)>")
        }
        let text = LibXMLNode.text(child)
        guard !text.isEmpty else { throw fail(child, .missingElement, "\(context) has an empty <\(name)>") }
        return text
    }

    private func coordinate(_ node: xmlNodePtr, _ name: String, context: String) throws -> Int {
        let text = try requiredText(node, name, context: context)
        guard let value = NumberText.coordinate(text) else {
            throw fail(LibXMLNode.first(node, named: name), .invalidNumber,
                       "\(context): <\(name)> is '\(text)', expected a number")
        }
        return value
    }

    private func integer(_ node: xmlNodePtr, _ name: String, context: String) throws -> Int {
        let text = try requiredText(node, name, context: context)
        guard let value = NumberText.integer(text) else {
            throw fail(LibXMLNode.first(node, named: name), .invalidNumber,
                       "\(context): <\(name)> is '\(text)', expected an integer")
        }
        return value
    }

    private func optionalInteger(_ node: xmlNodePtr, _ name: String, context: String) throws -> Int? {
        guard let child = LibXMLNode.first(node, named: name), !LibXMLNode.text(child).isEmpty else { return nil }
        return try integer(node, name, context: context)
    }

    /// A 0/1 flag; missing or empty means 0, as in the devkit.
    private func flag(_ node: xmlNodePtr, _ name: String, context: String) throws -> Bool {
        guard let child = LibXMLNode.first(node, named: name) else { return false }
        let text = LibXMLNode.text(child)
        if text.isEmpty { return false }
        switch NumberText.integer(text) {
        case 0: return false
        case 1: return true
        default:
            throw fail(child, .invalidNumber, "\(context): <\(name)> is '\(text)', expected 0 or 1")
        }
    }
}

/// The number grammar of annotation files, kept strict so that garbage is reported, not guessed.
enum NumberText {
    /// `[+-]digits` -> Int (at most 9 digits, far beyond any image size).
    static func integer(_ text: String) -> Int? {
        var digits = Substring(text)
        var sign = 1
        if let first = digits.first, first == "+" || first == "-" {
            sign = first == "-" ? -1 : 1
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int(digits) else { return nil }
        return sign * value
    }

    /// `[+-]digits[.digits]` or `[+-].digits` -> Int, rounded to nearest, halves away from zero.
    static func coordinate(_ text: String) -> Int? {
        if let value = integer(text) { return value }
        var body = Substring(text)
        var sign = ""
        if let first = body.first, first == "+" || first == "-" {
            sign = first == "-" ? "-" : ""
            body = body.dropFirst()
        }
        let pieces = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard pieces.count == 2, pieces[0].count <= 9, !(pieces[0].isEmpty && pieces[1].isEmpty),
              pieces.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return nil }
        // Spelled out in full ("-0.5", "273.0") so Double's parser sees one canonical form.
        let canonical = sign + (pieces[0].isEmpty ? "0" : pieces[0]) + "." + (pieces[1].isEmpty ? "0" : pieces[1])
        guard let value = Double(canonical), value.isFinite else { return nil }
        return Int(value.rounded(.toNearestOrAwayFromZero))
    }
}
