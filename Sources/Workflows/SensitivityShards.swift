import Foundation
import Quantization
import Evaluation
import VOC

/// `mpq sensitivity` as units: unit `l · B + k` is layer `l` (execution order) quantized alone at the `k`-th
/// `--bits` value (B of them). A run records each finished unit in its folder's `units.journal`; `--shard I/N`
/// runs units I, I+N, ...; one process is the shard 0/1. The report is always written from journals, by
/// `write(_:to:wallTime:)`, whether they come from one folder (one process) or from shards (`mpq merge`).
public enum SensitivityShards {
    public static let kind = "sensitivity"

    /// Runs `shard`'s units of `job` that `folder`'s journal lacks.
    /// - Returns: the job's result, and how many of the shard's units were already in the journal.
    static func run(_ job: SensitivityJob, shard: Shard, folder: URL) throws
        -> (result: SensitivityJob.Result, resumed: Int, units: Int) {
        var journal: ShardJournal?
        var index: [String: Int] = [:]
        var mine: [Int] = []
        var resumed = 0
        let bits = job.bits
        let size = (try? FileManager.default.attributesOfItem(atPath: job.inputs.modelPath)[.size] as? Int) ?? nil
        let hooks = SensitivityJob.Hooks(begin: { settings, layers in
            index = Dictionary(layers.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
            let run = "model=\(URL(fileURLWithPath: job.inputs.modelPath).standardizedFileURL.path) "
                + "size=\(size.map(String.init) ?? "?") layers=\(layers.count) bits=\(bits.map(String.init).joined(separator: ","))"
            let header = ShardRunHeader(kind: kind, run: run, settings: settings.map { [$0.0, $0.1] },
                                        shard: shard.description, units: layers.count * bits.count)
            let opened = try ShardJournal(folder: folder, header: header)
            journal = opened
            mine = UnitShard.units(shard, of: header.units)
            let pending = Set(mine.filter { opened.finished[$0] == nil })
            resumed = mine.count - pending.count
            Output.note("sensitivity: shard \(shard): \(mine.count) of \(header.units) units (layers x bit widths), "
                + "\(resumed) already in \(opened.url.path)")
            return { layer, b in
                guard let l = index[layer], let k = bits.firstIndex(of: b) else { return false }
                return pending.contains(l * bits.count + k)
            }
        }, finished: { unit in
            guard let journal, let l = index[unit.layer], let k = bits.firstIndex(of: unit.result.bits) else { return }
            let r = unit.result
            try journal.append(ShardUnitRecord(unit: l * bits.count + k, seconds: unit.seconds, fields: [
                unit.layer, String(unit.params), String(unit.macs), String(r.bits), String(r.map), String(r.mapDrop),
                r.sqnrDB.map { String($0) } ?? "inf", String(unit.mapFP32),
            ]))
        })
        let result = try job.run(hooks: hooks)
        return (result, resumed, mine.count)
    }

    /// What `runAndReport` did: a shard's units (how many were already in the journal; the run's seconds), or the
    /// report of a one-process run, written into its folder.
    public enum Outcome {
        case shard(units: Int, resumed: Int, seconds: Double)
        case report(SensitivityReport, seconds: Double)
    }

    /// `mpq sensitivity`: runs `shard`'s missing units of `job` into `folder`; the whole run (shard 0/1) then
    /// writes its report files there, from its journal.
    public static func runAndReport(_ job: SensitivityJob, shard: Shard, folder: URL) throws -> Outcome {
        let run = try run(job, shard: shard, folder: folder)
        guard shard.count == 1 else {
            return .shard(units: run.units, resumed: run.resumed, seconds: run.result.seconds)
        }
        let merged = try MergedUnits.load([folder], kind: kind)
        let written = try write(merged, to: folder, wallTime: String(format: "%.1f s", run.result.seconds))
        return .report(written, seconds: run.result.seconds)
    }

    /// The report of a whole run from its units (one folder's or the merged shards').
    /// - Throws: `ShardJournalError` when a record is malformed or the shards disagree on the float mAP.
    static func report(_ merged: MergedUnits) throws -> SensitivityReport {
        let header = merged.header
        let bits = (header.setting("bits") ?? "").split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !bits.isEmpty, header.units % bits.count == 0 else {
            throw ShardJournalError(file: merged.folders.first?.path ?? "", problem: "the journal's bits setting "
                + "'\(header.setting("bits") ?? "")' does not divide its \(header.units) units")
        }
        var layers: [LayerSensitivity] = []
        var mapFP32: Double?
        for l in 0..<(header.units / bits.count) {
            var results: [SensitivityResult] = []
            var name = "", params = 0, macs = 0
            for k in 0..<bits.count {
                let u = l * bits.count + k
                let record = merged.records[u]
                let where_ = merged.folders[u].appendingPathComponent(ShardJournal.fileName).path
                let f = record.fields
                guard f.count == 8, let p = Int(f[1]), let m = Int(f[2]), let b = Int(f[3]), b == bits[k],
                      let map = Double(f[4]), let drop = Double(f[5]), let fp = Double(f[7]),
                      f[6] == "inf" || Double(f[6]) != nil, k == 0 || f[0] == name else {
                    throw ShardJournalError(file: where_, problem: "malformed record of unit \(u)")
                }
                if let mapFP32, mapFP32 != fp {
                    throw ShardJournalError(file: where_, problem: "float mAP \(fp) differs from \(mapFP32) in another "
                        + "shard: the shards ran on different data or builds")
                }
                mapFP32 = fp
                (name, params, macs) = (f[0], p, m)
                results.append(SensitivityResult(bits: b, map: map, mapDrop: drop, sqnrDB: f[6] == "inf" ? nil : Double(f[6])))
            }
            layers.append(LayerSensitivity(name: name, params: params, macs: macs, results: results))
        }
        // What the runs quantized (the job's "quantized" settings line; journals from before it: weights).
        let quantize = header.setting("quantized").flatMap(SensitivityOperand.init(rawValue:)) ?? .weights
        return SensitivityReport(layers: layers, mapFP32: mapFP32 ?? 0, quantize: quantize)
    }

    /// Writes the report files of the run into `folder`: the one writer of one-process runs and merges.
    /// - Parameter wallTime: the `wall time` settings line.
    @discardableResult
    public static func write(_ merged: MergedUnits, to folder: URL, wallTime: String) throws -> SensitivityReport {
        let report = try report(merged)
        let settings = merged.header.settings.map { ($0.first ?? "", $0.last ?? "") } + [("wall time", wallTime)]
        try SensitivityReportFiles.write(report, settings: settings, to: folder)
        return report
    }
}
