import ArgumentParser
import Foundation
import Workflows

/// `mpq merge`: the report of a sharded sensitivity or compare run, from its shard folders.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine the shard folders of mpq sensitivity --shard or mpq compare --shard into one report.",
        discussion: """
        Reads each folder's units.journal, checks that they are the shards of one run (same job, model, \
        dataset and settings) and that together they hold every unit exactly once, and writes the report of \
        the whole run into --out: the same files, byte for byte, that one process running every unit writes \
        (sensitivity.json/.csv/.svg; compare.json/.svg), except the run's own times (the wall time line of \
        sensitivity.md and report.html; each row's seconds in compare). Shards of different runs, a unit in \
        two folders and missing units are refused with the reason. Merging compare shards reads each unit's \
        detections from <shard>/runs/<unit> and the dataset at the path the shards recorded, for the paired \
        bootstrap. Evaluate shards are merged by mpq evaluate-detections (several --results).

        Examples:
          mpq merge --out sens sens/shard-0 sens/shard-1
          mpq merge --out runs/compare runs/compare/shard-0 \\
              runs/compare/shard-1 runs/compare/shard-2
        """
    )

    @Option(help: ArgumentHelp("The folder the merged report goes into (created if needed).", valueName: "dir"))
    var out: String

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    @Argument(help: ArgumentHelp("The shard folders (the --report folders of the shards), in any order.",
                                 valueName: "shard-dir"))
    var shards: [String] = []

    func validate() throws {
        guard !shards.isEmpty else { throw ValidationError("Give at least one shard folder.") }
        guard !out.isEmpty else { throw ValidationError("--out needs a folder.") }
    }

    func run() throws {
        let merged = try MergedUnits.load(shards.map { URL(fileURLWithPath: $0) })
        let folder = URL(fileURLWithPath: out)
        switch merged.header.kind {
        case SensitivityShards.kind:
            let report = try SensitivityShards.write(merged, to: folder, wallTime: merged.timeDescription)
            print(SensitivityJob.terminalTable(report, top: 10), terminator: "")
        case CompareShards.kind:
            let summary = try CompareShards.write(merged, to: folder, threads: threads)
            print(CompareReport.markdownTable(summary.rows) + CompareReport.intervalNote(summary), terminator: "")
        default:
            throw ShardJournalError(file: merged.folders.first?.path ?? "", problem: "a \(merged.header.kind) "
                + "journal: mpq merge knows sensitivity and compare")
        }
        print("merge: \(merged.header.units) units from \(merged.shardCount) shard folders; report in \(out)")
    }
}
