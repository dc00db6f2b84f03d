import ArgumentParser
import Foundation
import SSD
import Tensors
import Evaluation
import Workflows

/// `mpq evaluate`: run an SSD checkpoint over a split and score it (resumable, shardable).
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Run an SSD checkpoint over a PASCAL VOC split and report its mAP.",
        discussion: """
        Images are decoded on a background thread while the network runs; detections are kept as the \
        reference evaluation does (score > 0.01, per-class NMS). The results folder receives the devkit \
        result files comp4_det_<split>_<class>.txt, summary.md (settings, mAP, per-class table) and \
        curves/<class>.svg (precision-recall curves).

        Resumable: every finished image is appended to <results>/progress.journal and flushed to disk; run the \
        same command again after a crash or a kill and it continues where it stopped. A results folder holding \
        another run's journal (other model, split, shard, limit or classes) is refused.

        Sharded: --shard I/N (I from 0 to N-1) runs the images at positions I, I+N, I+2N, ... of the split \
        (after --limit), and reports the mAP over those images only. Score the whole split from the shards' \
        folders with `mpq evaluate-detections --results <shard 0> --results <shard 1> ...`: the result is \
        the same as one unsharded run.

        Intervals: the mAP gets a 95% interval from a paired bootstrap over the scored images (--bootstrap \
        resamples, default 1000, 0 turns it off; --seed; the rule is in docs/evaluation.md). --baseline pairs \
        this run with another model on the same images: a results folder that mpq evaluate wrote (same split, \
        image set and classes, else refused with the reason), or a model file run here first. It prints the \
        baseline's mAP, the difference (this mAP minus the baseline's) and the difference's interval, "not \
        significant" when that interval contains 0. JSON adds map_ci95, bootstrap, and with --baseline: \
        baseline {results, mAP, map_ci95}, delta_vs_baseline, delta_ci95, delta_significant.

        Default results folder: runs/<model file name without extension>/<split>, with /shard-I-of-N \
        appended for a shard. Without --model / --voc-root the embedded demo detector / dataset are used (said \
        in one line).

        Examples:
          mpq evaluate --model mb2-ssd-lite-mp-0_686.pth \\
              --voc-root VOCdevkit/VOC2007 --split test
          mpq evaluate --model model.pth --voc-root VOCdevkit/VOC2007 \\
              --split test --limit 100 --results runs/quick --json -
          mpq evaluate --model model.pth --voc-root VOCdevkit/VOC2007 \\
              --split test --shard 0/4 --results runs/model/shard-0 --threads 2
          mpq evaluate --model q4.safetensors --voc-root VOCdevkit/VOC2007 \\
              --split test --results runs/q4/test --baseline runs/model/test
        """
    )

    @OptionGroup var modelOption: ModelOption
    var model: String? { modelOption.model }

    @Option(help: ArgumentHelp("Force the architecture instead of recognising it from the tensor names "
        + "(mb2-ssd-lite, mb1-ssd, vgg16-ssd, ssd300-vgg16).", valueName: "name"))
    var arch: Architecture?

    @OptionGroup var datasetOption: DatasetOption
    var vocRoot: String? { datasetOption.vocRoot }

    @Option(help: ArgumentHelp("The split to run: ImageSets/Main/<name>.txt, e.g. test.", valueName: "name"))
    var split: String = "test"

    @Option(help: ArgumentHelp("The folder for result files, journal, summary and curves (default "
        + "runs/<model>/<split>[/shard-I-of-N]).", valueName: "dir"))
    var results: String?

    @Option(help: ArgumentHelp("Also write the scores as JSON to this file, or to standard output with '-' "
        + "(the table then goes to standard error).", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Run only the first N images of the split (before sharding).", valueName: "n"))
    var limit: Int?

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    @OptionGroup var engineOption: EngineOption
    var engine: QuantizedEngine { engineOption.engine }

    @Option(help: ArgumentHelp("Run one shard of the split: I/N takes every N-th image starting at position I "
        + "(I from 0 to N-1).", valueName: "I/N"))
    var shard: String?

    @Option(help: "The AP metric: voc07 (11-point) or voc10 (area).")
    var metric: APMetric = .voc07

    @Option(name: .customLong("protocol"), help: "The matching rules: devkit, py-faster-rcnn or pytorch-ssd.")
    var evaluationProtocol: EvaluationProtocol = .devkit

    @Option(help: ArgumentHelp("A class list file (one class per line, no background); overrides labels.txt "
        + "in the dataset folder and the default 20 VOC classes.", valueName: "file"))
    var classes: String?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit).") }
        if let shard, Shard(shard) == nil {
            throw ValidationError("--shard takes I/N with 0 <= I < N, e.g. 0/4; got '\(shard)'.")
        }
        guard !split.isEmpty, !split.contains("/") else {
            throw ValidationError("--split takes a split name such as test or trainval, not a path: '\(split)'.")
        }
    }

    @Option(help: ArgumentHelp("Compare with this baseline: a results folder written by mpq evaluate on the same "
        + "split, images and classes, or a model file, run here on the same images (results in <results>/baseline). "
        + "Prints both mAPs and their difference with paired 95% intervals.", valueName: "dir-or-file"))
    var baseline: String?

    @OptionGroup var bootstrapOptions: BootstrapOptions

    /// The job's settings from the flags.
    var jobOptions: EvaluateJob.Options {
        var o = EvaluateJob.Options()
        o.model = model
        o.architecture = arch
        o.vocRoot = vocRoot
        o.split = split
        o.results = results
        o.limit = limit
        o.engine = engine
        o.shard = shard.flatMap(Shard.init) ?? .all
        o.metric = metric
        o.evaluationProtocol = evaluationProtocol
        o.classes = classes
        o.baseline = baseline
        o.bootstrap = bootstrapOptions.plan
        o.threads = threads
        return o
    }

    func run() throws {
        Runtime.setThreads(threads)
        guard let scored = try EvaluateJob(jobOptions).run() else { return }
        if json == "-" { Output.note(scored.table) } else { print(scored.table, terminator: "") }
        Output.note("wrote \(scored.folder.path)/\(EvaluationRunner.summaryFileName), curves/ and the comp4 result files")
        if let json { try Output.writeJSON(scored.document, to: json) }
    }
}
