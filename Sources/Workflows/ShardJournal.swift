import Foundation
import SafeIO
import Evaluation
import VOC

/// The header of a unit journal: which job, which run, which shard, how many units the whole run has.
///
/// `run` identifies the run (model file, dataset, every setting that changes a result) and is the same in every
/// shard of one run; `settings` are the run's report settings (ordered key/value pairs) the merged report prints.
public struct ShardRunHeader: Codable, Equatable {
    /// `sensitivity` or `compare`.
    public let kind: String
    let run: String
    let settings: [[String]]
    /// `I/N`.
    let shard: String
    /// Units of the whole run (every shard).
    public let units: Int

    func setting(_ key: String) -> String? { settings.first { $0.first == key }?.last }

    /// Whether `other` is another shard of the same run (same job, run, settings and unit count).
    func sameRun(_ other: ShardRunHeader) -> Bool {
        kind == other.kind && run == other.run && settings == other.settings && units == other.units
    }

    /// What differs from `other`'s run, for a refusal: "avg-bits 4.0,8.0 there, 4.0 here; ...".
    func differences(from other: ShardRunHeader, there: String = "there", here: String = "here") -> String {
        var out: [String] = []
        if run != other.run { out.append("\(other.run) \(there), \(run) \(here)") }
        let keys = (other.settings + settings).compactMap(\.first)
        var seen = Set<String>()
        for key in keys where seen.insert(key).inserted && setting(key) != other.setting(key) {
            out.append("\(key) '\(other.setting(key) ?? "none")' \(there), '\(setting(key) ?? "none")' \(here)")
        }
        if units != other.units, out.isEmpty { out.append("\(other.units) units \(there), \(units) \(here)") }
        return out.joined(separator: "; ")
    }

    /// One line of JSON (no newline inside: JSON escapes them), keys sorted.
    var line: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// One finished unit: its index in the run (`0 ..< units`), its compute time and its result fields (tokens
/// without spaces, e.g. a layer name and numbers in shortest round-trip form).
struct ShardUnitRecord: Equatable {
    let unit: Int
    let seconds: Double
    let fields: [String]
}

/// The crash-safe record of the finished units of a sharded job (`units.journal` in the shard's folder): what
/// makes `mpq sensitivity --shard` and `mpq compare --shard` resumable per unit and what `mpq merge` reads.
///
/// Text, the header line then one line per finished unit, appended and flushed to disk (`fsync`) before the next
/// unit starts:
/// ```
/// # mpq units journal v1 {"kind":"sensitivity","run":"...","settings":[...],"shard":"0/4","units":96}
/// <unit> <seconds> <field> <field> ...
/// ```
/// A process killed mid-write leaves at most one line without its newline: it is dropped (and cut from the file)
/// when the journal is reopened, so only that unit is redone. Reopening with another header (another run, or
/// another shard of it) is refused with both headers in the message, never mixed.
final class ShardJournal {
    static let fileName = "units.journal"
    static let magic = "# mpq units journal v1 "

    let url: URL
    let header: ShardRunHeader
    /// Finished units by index.
    private(set) var finished: [Int: ShardUnitRecord] = [:]
    private let file: AppendOnlyFile

    /// Opens (or creates) the journal of `folder` for `header`'s run and shard.
    /// - Throws: `ShardJournalError` when the folder holds another run's or shard's journal, or a complete line
    ///   is malformed.
    init(folder: URL, header: ShardRunHeader) throws {
        url = folder.appendingPathComponent(Self.fileName)
        self.header = header
        let fm = FileManager.default
        do { try fm.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw ShardJournalError(file: folder.path, problem: "cannot create the folder (\(error.localizedDescription))")
        }
        let headerLine = Self.magic + header.line + "\n"
        var keep = 0
        if fm.fileExists(atPath: url.path) {
            let loaded = try Self.read(url)
            if let found = loaded.header {
                if found != header { throw Self.mismatch(url, found: found, expected: header) }
                finished = loaded.records
                keep = loaded.completeBytes
            }
        }
        do {
            file = try AppendOnlyFile(url: url, keep: keep, header: Data(headerLine.utf8))
        } catch .create {
            throw ShardJournalError(file: url.path, problem: "cannot create the journal")
        } catch .open(let error) {
            throw ShardJournalError(file: url.path, problem: "cannot open for appending (\(error.localizedDescription))")
        }
    }

    /// Records one finished unit durably (write + fsync). A write that fails (a full disk, a file-size limit)
    /// cuts what it wrote, so the journal keeps complete lines only.
    func append(_ record: ShardUnitRecord) throws {
        precondition((0..<header.units).contains(record.unit), "unit \(record.unit) outside the run")
        precondition(record.fields.allSatisfy { !$0.isEmpty && !$0.contains(where: \.isWhitespace) },
                     "journal fields are single tokens")
        let line = ([String(record.unit), String(record.seconds)] + record.fields).joined(separator: " ") + "\n"
        do {
            try file.append(Data(line.utf8))
        } catch {
            throw ShardJournalError(file: url.path, problem: "cannot append (\(error.localizedDescription))")
        }
        finished[record.unit] = record
    }

    /// What a journal file holds: its header (nil when not even the header line is complete), the complete
    /// records and how many leading bytes are complete.
    struct Contents {
        let header: ShardRunHeader?
        let records: [Int: ShardUnitRecord]
        let completeBytes: Int
    }

    /// Reads a journal file (a torn last line is ignored).
    /// - Throws: `ShardJournalError` naming the file (and line) when it cannot be read, is not a unit journal or
    ///   holds a malformed or duplicated record.
    static func read(_ url: URL) throws -> Contents {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ShardJournalError(file: url.path, problem: "cannot read (\(error.localizedDescription))")
        }
        let bytes = [UInt8](data)
        guard let firstNewline = bytes.firstIndex(of: 0x0A) else {
            // Killed while writing the header: nothing is recorded yet.
            return Contents(header: nil, records: [:], completeBytes: 0)
        }
        let first = String(decoding: bytes[..<firstNewline], as: UTF8.self)
        guard first.hasPrefix(magic),
              let header = try? JSONDecoder().decode(ShardRunHeader.self, from: Data(first.dropFirst(magic.count).utf8))
        else {
            throw ShardJournalError(file: url.path, line: 1, problem: "not an mpq unit journal")
        }
        var records: [Int: ShardUnitRecord] = [:]
        var complete = firstNewline + 1
        var lineNumber = 1
        var start = complete
        while let newline = bytes[start...].firstIndex(of: 0x0A) {
            lineNumber += 1
            let fields = String(decoding: bytes[start..<newline], as: UTF8.self).split(separator: " ").map(String.init)
            guard fields.count >= 2, let unit = Int(fields[0]), (0..<header.units).contains(unit),
                  let seconds = Double(fields[1]) else {
                throw ShardJournalError(file: url.path, line: lineNumber, problem: "malformed unit record")
            }
            guard records[unit] == nil else {
                throw ShardJournalError(file: url.path, line: lineNumber, problem: "unit \(unit) recorded twice")
            }
            records[unit] = ShardUnitRecord(unit: unit, seconds: seconds, fields: Array(fields.dropFirst(2)))
            complete = newline + 1
            start = complete
        }
        return Contents(header: header, records: records, completeBytes: complete)
    }

    /// The one-line refusal of a folder that holds another journal, with the reason.
    static func mismatch(_ url: URL, found: ShardRunHeader, expected: ShardRunHeader) -> ShardJournalError {
        let reason: String
        if found.kind != expected.kind {
            reason = "it holds a \(found.kind) journal, this is a \(expected.kind) run"
        } else if !found.sameRun(expected) {
            reason = "it belongs to another run (\(expected.differences(from: found)))"
        } else {
            reason = "it belongs to shard \(found.shard) of this run, this is shard \(expected.shard)"
        }
        return ShardJournalError(file: url.path, problem: reason + ". Use another folder or delete this one")
    }
}

/// A unit journal that cannot be used, or shard folders that cannot be merged: one line naming the file.
public struct ShardJournalError: LocalizedError, CustomStringConvertible {
    let file: String
    var line: Int? = nil
    let problem: String
    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(problem)" }
    public var errorDescription: String? { description }

    public init(file: String, line: Int? = nil, problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }
}

/// The units of a run as the shards found them: every unit exactly once, all of one run.
public struct MergedUnits {
    public let header: ShardRunHeader
    /// Every unit's record, by unit index (`0 ..< header.units`).
    let records: [ShardUnitRecord]
    /// The folder each unit was read from.
    public let folders: [URL]
    /// How many shard folders were merged, and the sum and the largest per-folder total of the unit times.
    public let shardCount: Int
    let totalSeconds: Double
    let longestShardSeconds: Double

    /// Reads the journals of `folders` and checks they are the shards of one run that together hold every unit
    /// exactly once.
    /// - Parameter kind: the job the merge expects (nil: whatever the first folder holds).
    /// - Throws: `ShardJournalError` naming the folder: no journal, another kind or run, a unit in two folders, or
    ///   the missing units.
    public static func load(_ folders: [URL], kind: String? = nil) throws -> MergedUnits {
        precondition(!folders.isEmpty)
        var first: (url: URL, header: ShardRunHeader)?
        var byUnit: [Int: (ShardUnitRecord, URL)] = [:]
        var perFolder: [Double] = []
        for folder in folders {
            let url = folder.appendingPathComponent(ShardJournal.fileName)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ShardJournalError(file: folder.path, problem: "no \(ShardJournal.fileName): not a shard folder "
                    + "of mpq sensitivity or mpq compare (or the shard has not started)")
            }
            let contents = try ShardJournal.read(url)
            guard let header = contents.header else {
                throw ShardJournalError(file: url.path, problem: "the journal has no complete header: the shard "
                    + "was killed before its first unit; run it again")
            }
            if let kind, header.kind != kind {
                throw ShardJournalError(file: url.path, problem: "a \(header.kind) journal, expected \(kind)")
            }
            if let first {
                if header.kind != first.header.kind {
                    throw ShardJournalError(file: url.path, problem: "a \(header.kind) journal, but \(first.url.path) "
                        + "is \(first.header.kind): shards of different jobs")
                }
                if !header.sameRun(first.header) {
                    throw ShardJournalError(file: url.path, problem: "another run than \(first.url.path) ("
                        + "\(header.differences(from: first.header, there: "there", here: "in this one"))): "
                        + "shards of different runs cannot be merged")
                }
            } else {
                first = (url, header)
            }
            for record in contents.records.keys.sorted().compactMap({ contents.records[$0] }) {
                if let other = byUnit[record.unit]?.1 {
                    throw ShardJournalError(file: folder.path, problem: "unit \(record.unit) is also in "
                        + "\(other.path): duplicate units (the same shard given twice, or shards of different "
                        + "--shard N)")
                }
                byUnit[record.unit] = (record, folder)
            }
            perFolder.append(contents.records.values.reduce(0) { $0 + $1.seconds })
        }
        let header = first!.header
        let missing = (0..<header.units).filter { byUnit[$0] == nil }
        if !missing.isEmpty {
            let list = missing.prefix(12).map(String.init).joined(separator: ", ") + (missing.count > 12 ? ", ..." : "")
            throw ShardJournalError(file: folders.map(\.path).joined(separator: " "), problem: "\(missing.count) of "
                + "\(header.units) units missing (\(list)): a shard is unfinished or not given")
        }
        return MergedUnits(header: header, records: (0..<header.units).map { byUnit[$0]!.0 },
                           folders: (0..<header.units).map { byUnit[$0]!.1 }, shardCount: folders.count,
                           totalSeconds: perFolder.reduce(0, +), longestShardSeconds: perFolder.max() ?? 0)
    }

    /// The `wall time` line of a merged report (a one-process report gives its run's wall time there).
    public var timeDescription: String {
        String(format: "merged from %d shards: %.1f s of unit time in total, %.1f s in the longest shard", shardCount,
               totalSeconds, longestShardSeconds)
    }
}

/// `--shard I/N` of sensitivity and compare: which of a run's units this process runs (round-robin, like
/// evaluate's images: units I, I+N, I+2N, ...).
public enum UnitShard {
    /// - Throws: `OptionsError` when `text` is not I/N.
    public static func parse(_ text: String?) throws -> Shard {
        guard let text else { return .all }
        guard let shard = Shard(text) else {
            throw OptionsError("--shard takes I/N with 0 <= I < N, e.g. 0/4; got '\(text)'.")
        }
        return shard
    }

    static func units(_ shard: Shard, of total: Int) -> [Int] { shard.positions(total: total, limit: nil) }
}
