import VOC
import Foundation
import SafeIO

/// Reading and writing the devkit's detection result files: one file per class, `comp4_det_<split>_<class>.txt`,
/// one line per detection: `imageid score x1 y1 x2 y2`, boxes in 1-based pixel coordinates.
public enum ResultFiles {
    /// The file name the devkit expects for a split and class (competition 4: any training data).
    public static func fileName(split: String, className: String) -> String {
        "comp4_det_\(split)_\(className).txt"
    }

    /// Parses one result file's bytes. Fields are separated by spaces or tabs; blank lines are skipped; `\r\n`
    /// line ends are accepted. An empty file holds no detections.
    /// - Parameters:
    ///   - file: names the file in errors.
    ///   - imageIndex: maps an image id to its position in the split; nil means the id is not in the split.
    /// - Throws: `ResultFileError` naming file and line: wrong field count, a non-numeric or non-finite score or
    ///   coordinate, an image id that is not in the split.
    public static func parse(_ data: Data, file: String, imageIndex: (String) -> Int?) throws -> [ScoredBox] {
        try data.withUnsafeBytes { raw in
            try parse(raw.bindMemory(to: UInt8.self), file: file, imageIndex: imageIndex)
        }
    }

    /// Byte-level scanner: 200k lines must parse in a fraction of a second, which `String` splitting does not.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, file: String,
                              imageIndex: (String) -> Int?) throws -> [ScoredBox] {
        var boxes: [ScoredBox] = []
        var starts = [Int](repeating: 0, count: 7)
        var ends = [Int](repeating: 0, count: 7)
        var numbers = [Double](repeating: 0, count: 5)
        let names = ["score", "x1", "y1", "x2", "y2"]
        var lineNumber = 0
        var position = 0
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }
        while position < bytes.count {
            lineNumber += 1
            var lineEnd = position
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            var count = 0
            var i = position
            while i < lineEnd {
                while i < lineEnd && isSpace(bytes[i]) { i += 1 }
                if i == lineEnd { break }
                let start = i
                while i < lineEnd && !isSpace(bytes[i]) { i += 1 }
                if count < 7 {
                    starts[count] = start
                    ends[count] = i
                }
                count += 1
            }
            position = lineEnd + 1
            if count == 0 { continue }
            guard count == 6 else {
                throw ResultFileError(file: file, line: lineNumber, problem: "expected 6 fields "
                    + "'imageid score x1 y1 x2 y2', found \(count)")
            }
            func token(_ k: Int) -> String {
                String(decoding: UnsafeBufferPointer(rebasing: bytes[starts[k]..<ends[k]]), as: UTF8.self)
            }
            let id = token(0)
            guard let image = imageIndex(id) else {
                throw ResultFileError(file: file, line: lineNumber,
                                      problem: "image id '\(id)' is not in the split's image set")
            }
            for k in 0..<5 {
                guard let value = parseDouble(UnsafeBufferPointer(rebasing: bytes[starts[k + 1]..<ends[k + 1]])),
                      value.isFinite else {
                    throw ResultFileError(file: file, line: lineNumber,
                                          problem: "\(names[k]) '\(token(k + 1))' is not a finite number")
                }
                numbers[k] = value
            }
            boxes.append(ScoredBox(imageIndex: image, score: numbers[0], x1: numbers[1], y1: numbers[2],
                                   x2: numbers[3], y2: numbers[4]))
        }
        return boxes
    }

    /// A whole token as a decimal number (`strtod`, correctly rounded), or nil if any of it is not part of one.
    private static func parseDouble(_ token: UnsafeBufferPointer<UInt8>) -> Double? {
        if let value = fastDecimal(token) { return value }
        guard token.count > 0, token.count < 64 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: token.count + 1) { buffer in
            for (k, b) in token.enumerated() { buffer[k] = CChar(bitPattern: b) }
            buffer[token.count] = 0
            guard let base = buffer.baseAddress else { return nil }
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(base, &end)
            guard let end, end == base + token.count else { return nil }
            return value
        }
    }

    /// Clinger's fast path for the common plain decimal (`-12.375`): with at most 15 significant digits the digits
    /// are an exact double `m` and, with at most 22 fraction digits, `10^k` is exact too, so the one IEEE division
    /// `m / 10^k` is the correctly rounded value, the same as `strtod`'s. nil = use `strtod`.
    static func fastDecimal(_ token: UnsafeBufferPointer<UInt8>) -> Double? {
        var i = 0
        var negative = false
        if let first = token.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            i = 1
        }
        var mantissa: UInt64 = 0
        var significant = 0, fractionDigits = 0
        var seenDot = false, seenDigit = false
        while i < token.count {
            let b = token[i]
            if b >= 0x30 && b <= 0x39 {
                if significant > 0 || b != 0x30 { significant += 1 }
                if significant > 15 { return nil }
                mantissa = mantissa * 10 + UInt64(b - 0x30)
                if seenDot { fractionDigits += 1 }
                seenDigit = true
            } else if b == UInt8(ascii: ".") && !seenDot {
                seenDot = true
            } else {
                return nil
            }
            i += 1
        }
        guard seenDigit, fractionDigits < powersOfTen.count else { return nil }
        let value = Double(mantissa) / powersOfTen[fractionDigits]
        return negative ? -value : value
    }

    /// 10^0 ... 10^22, all exact in double precision.
    private static let powersOfTen: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { value, _ in value * 10 } }

    /// Reads `file`; a missing file is reported through `missing` (no detections for that class) rather than
    /// as an error, so a detector that never fired for a class can leave its file out.
    public static func read(_ url: URL, imageIndex: (String) -> Int?) throws -> [ScoredBox]? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ResultFileError(file: url.path, line: nil, problem: "cannot read (\(error.localizedDescription))")
        }
        return try parse(data, file: url.path, imageIndex: imageIndex)
    }

    /// One result-file line for a detection in 0-based pixel coordinates: adds 1 to every coordinate (in float32,
    /// as pytorch-ssd's `boxes + 1.0` does) and prints each number with the shortest text that reads back to the
    /// same float, so re-reading the file reproduces the ranking and the boxes exactly.
    public static func line(imageID: String, detection d: Detection) -> String {
        "\(imageID) \(d.score) \(d.x1 + 1) \(d.y1 + 1) \(d.x2 + 1) \(d.y2 + 1)\n"
    }

    /// Writes one result file per class into `folder` (created if needed), each atomically. Images are written in
    /// the order given and each image's detections in their order, so the file order (which breaks score ties)
    /// is the image-set order whatever order the images were processed in.
    /// - Parameter images: `(imageID, detections)` in image-set order; `Detection.classIndex` indexes `classNames`.
    public static func write(_ images: [(id: String, detections: [Detection])], classNames: [String], split: String,
                             to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var texts = [String](repeating: "", count: classNames.count)
        for (id, detections) in images {
            for d in detections {
                precondition(classNames.indices.contains(d.classIndex), "Detection.classIndex out of range")
                texts[d.classIndex] += line(imageID: id, detection: d)
            }
        }
        for (c, name) in classNames.enumerated() {
            let url = folder.appendingPathComponent(fileName(split: split, className: name))
            try AtomicFile.write(texts[c], to: url)
        }
    }
}
