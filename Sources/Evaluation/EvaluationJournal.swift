import VOC
import Foundation
import SafeIO

/// The crash-safe record of finished images in a results folder (`progress.journal`), what makes `mpq evaluate`
/// resumable.
///
/// Text, one line per finished image, appended and flushed to disk (`fsync`) before the next image starts:
/// ```
/// # mpq evaluate journal v1 <settings>
/// <imageid> <n> <class> <score> <x1> <y1> <x2> <y2> ... (n groups of 6; floats in shortest round-trip form)
/// ```
/// A run killed mid-write leaves at most one line without its newline; it is dropped (and cut from the file)
/// when the journal is reopened, so only that image is redone. The settings line ties the journal to one run
/// configuration (split, shard, limit, classes, model): reopening with other settings is an error rather than a
/// silent mix of two models' detections.
public final class EvaluationJournal {
    public static let fileName = "progress.journal"
    static let magic = "# mpq evaluate journal v1 "

    public let url: URL
    public let settings: String
    /// Detections of every finished image, by image id.
    public private(set) var finished: [String: [Detection]] = [:]
    private let file: AppendOnlyFile

    /// Opens (or creates) the journal in `folder`.
    /// - Parameter settings: one line describing the run; tabs and newlines are replaced by spaces.
    /// - Throws: `ResultFileError` if the journal belongs to other settings or a complete line is malformed.
    public init(folder: URL, settings: String) throws {
        url = folder.appendingPathComponent(Self.fileName)
        self.settings = String(settings.map { $0 == "\n" || $0 == "\t" || $0 == "\r" ? " " : $0 })
        let header = Self.magic + self.settings + "\n"
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw ResultFileError(file: folder.path, line: nil, problem: "cannot create the results folder "
                + "(\(error.localizedDescription))")
        }
        var keepBytes = 0
        if fm.fileExists(atPath: url.path) {
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw ResultFileError(file: url.path, line: nil, problem: "cannot read (\(error.localizedDescription))")
            }
            keepBytes = try Self.load(data, header: header, file: url.path, into: &finished)
        }
        do {
            // New (or only a torn header): the file starts with the settings line.
            file = try AppendOnlyFile(url: url, keep: keepBytes, header: Data(header.utf8))
        } catch .create {
            throw ResultFileError(file: url.path, line: nil, problem: "cannot create the journal")
        } catch .open(let error) {
            throw ResultFileError(file: url.path, line: nil, problem: "cannot open for appending "
                + "(\(error.localizedDescription))")
        }
    }

    /// Records one finished image durably (write + fsync).
    public func append(imageID: String, detections: [Detection]) throws {
        var line = "\(imageID) \(detections.count)"
        for d in detections {
            line += " \(d.classIndex) \(d.score) \(d.x1) \(d.y1) \(d.x2) \(d.y2)"
        }
        line += "\n"
        do {
            try file.append(Data(line.utf8))
        } catch {
            // A full disk may have left part of the line: AppendOnlyFile cut it.
            throw ResultFileError(file: url.path, line: nil, problem: "cannot append (\(Self.reason(error)))")
        }
        finished[imageID] = detections
    }

    /// The ids recorded in `folder`'s journal whatever its settings (nil if there is no readable journal): lets
    /// `evaluate-detections` warn when merged shard folders do not cover the whole split.
    public static func finishedImageIDs(in folder: URL) -> Set<String>? {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent(fileName)) else { return nil }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        guard let first = lines.first, first.hasPrefix(magic) else { return nil }
        let complete = data.last == 0x0A ? lines.dropFirst() : lines.dropFirst().dropLast()
        return Set(complete.compactMap { $0.split(separator: " ").first.map(String.init) })
    }

    /// What a results folder's journal says about its run: the settings line's split and class list, and the ids
    /// of the finished images (in the order they were recorded). nil when the folder has no readable journal.
    public struct RecordedRun: Sendable, Equatable {
        public let settings: String
        /// The `split=` field of the settings line (nil if absent).
        public let split: String?
        /// The `classes=` field, split at commas (nil if absent).
        public let classNames: [String]?
        public let imageIDs: [String]
    }

    public static func recordedRun(in folder: URL) -> RecordedRun? {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent(fileName)) else { return nil }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        guard let first = lines.first, first.hasPrefix(magic) else { return nil }
        let complete = data.last == 0x0A ? lines.dropFirst() : lines.dropFirst().dropLast()
        let settings = String(first.dropFirst(magic.count))
        // The settings line is "split=S shard=I/N limit=L classes=a,b,c detector=...": fields up to `detector=`
        // never hold spaces (split names cannot; class names are one word each in VOC's files).
        func field(_ name: String) -> String? {
            let head = settings.components(separatedBy: " detector=").first ?? settings
            return head.split(separator: " ").first { $0.hasPrefix(name + "=") }
                .map { String($0.dropFirst(name.count + 1)) }
        }
        let classes = field("classes").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        return RecordedRun(settings: settings, split: field("split"), classNames: classes,
                           imageIDs: complete.compactMap { $0.split(separator: " ").first.map(String.init) })
    }

    /// Parses a journal; returns how many leading bytes are complete (0 if not even the header is).
    static func load(_ data: Data, header: String, file: String, into finished: inout [String: [Detection]]) throws -> Int {
        let bytes = [UInt8](data)
        guard let firstNewline = bytes.firstIndex(of: 0x0A) else { return 0 }
        let first = String(decoding: bytes[...firstNewline], as: UTF8.self)
        guard first == header else {
            let found = first.hasPrefix(magic) ? String(first.dropFirst(magic.count).dropLast()) : "not a journal"
            throw ResultFileError(file: file, line: 1, problem: "this results folder belongs to another run "
                + "(\(found)); this run is (\(header.dropFirst(magic.count).dropLast())). Use another --results "
                + "folder or delete this one")
        }
        var complete = firstNewline + 1
        var lineNumber = 1
        var start = complete
        while let newline = bytes[start...].firstIndex(of: 0x0A) {
            lineNumber += 1
            let fields = String(decoding: bytes[start..<newline], as: UTF8.self).split(separator: " ")
            guard fields.count >= 2, let n = Int(fields[1]), n >= 0, fields.count == 2 + 6 * n else {
                throw ResultFileError(file: file, line: lineNumber, problem: "malformed journal record")
            }
            var detections: [Detection] = []
            for k in 0..<n {
                let f = fields[(2 + 6 * k)..<(8 + 6 * k)].map { $0 }
                guard let c = Int(f[0]), let s = Float(f[1]), let x1 = Float(f[2]), let y1 = Float(f[3]),
                      let x2 = Float(f[4]), let y2 = Float(f[5]) else {
                    throw ResultFileError(file: file, line: lineNumber, problem: "malformed journal record")
                }
                detections.append(Detection(classIndex: c, score: s, x1: x1, y1: y1, x2: x2, y2: y2))
            }
            finished[String(fields[0])] = detections
            complete = newline + 1
            start = complete
        }
        return complete
    }
}

extension EvaluationJournal {
    /// The system's short reason (e.g. "No space left on device") instead of Foundation's generic sentence.
    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }
}
