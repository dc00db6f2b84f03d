import ArgumentParser
import Foundation
import Evaluation
import Workflows

extension APMetric: ExpressibleByArgument {}
extension EvaluationProtocol: ExpressibleByArgument {}

/// `mpq evaluate-detections`: score devkit result files from any detector.
struct EvaluateDetections: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate-detections",
        abstract: "Score PASCAL VOC detection result files (comp4_det_<split>_<class>.txt) against a split.",
        discussion: """
        Each result file holds lines "imageid score x1 y1 x2 y2" with boxes in the devkit's 1-based pixel \
        coordinates. A class without a file is scored as having no detections (a note says so); an empty file \
        is a class with no detections. An image id outside the split, a wrong field count or a non-numeric \
        value is an error naming the file and line.

        Protocols: devkit = VOCevaldet.m (inclusive pixels, overlap >= 0.5); py-faster-rcnn = voc_eval.py \
        (the same with > 0.5); pytorch-ssd = qfgaohao's eval_ssd.py (boxes shifted by -1, no +1, float32 IoU, \
        > 0.5). Metrics: voc07 = 11-point interpolated AP, voc10 = area under the precision envelope. \
        Detections of equal score keep their file order. A class with no non-difficult object in the split \
        has AP "n/a" (null in JSON) and is left out of the mAP.

        Several --results folders are merged as the shards of one run: each image may appear in one folder \
        only, and the merged detections rank exactly as one run over the whole split would.

        JSON: {"metric": "...", "protocol": "...", "mAP": x, "classes": {"<name>": {"ap": x, "npos": n, \
        "detections": n}}, "map_ci95": [lo, hi], "bootstrap": {"resamples": n, "seed": s, "images": n}}: the \
        interval is the paired image bootstrap of docs/evaluation.md (--bootstrap 0 leaves both keys out).

        Examples:
          mpq evaluate-detections --voc-root VOCdevkit/VOC2007 --split test \\
              --results results/
          mpq evaluate-detections --voc-root VOCdevkit/VOC2007 --split test \\
              --results results/ --metric voc10 --protocol pytorch-ssd --json -
          mpq evaluate-detections --voc-root VOCdevkit/VOC2007 --split test \\
              --results shard-0 --results shard-1 --json scores.json
        """
    )

    @Option(name: .customLong("voc-root"),
            help: ArgumentHelp("The dataset folder, e.g. VOCdevkit/VOC2007 (holding Annotations and ImageSets).",
                               valueName: "dir"))
    var vocRoot: String

    @Option(help: ArgumentHelp("The split the results are for: ImageSets/Main/<name>.txt, e.g. test.",
                               valueName: "name"))
    var split: String

    @Option(help: ArgumentHelp("A folder with the result files; repeat it to merge the folders of a sharded run.",
                               valueName: "dir"))
    var results: [String] = []

    @Option(help: "The AP metric: voc07 (11-point) or voc10 (area).")
    var metric: APMetric = .voc07

    @Option(name: .customLong("protocol"),
            help: "The matching rules: devkit, py-faster-rcnn or pytorch-ssd.")
    var evaluationProtocol: EvaluationProtocol = .devkit

    @Option(help: ArgumentHelp("A class list file (one class per line); overrides labels.txt in the dataset "
        + "folder and the default 20 VOC classes.", valueName: "file"))
    var classes: String?

    @Option(help: ArgumentHelp("Also write the scores as JSON to this file, or to standard output with '-' "
        + "(the table then goes to standard error).", valueName: "file"))
    var json: String?

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    @OptionGroup var bootstrapOptions: BootstrapOptions

    func validate() throws {
        guard !results.isEmpty else { throw ValidationError("Give at least one --results folder.") }
        guard !split.isEmpty, !split.contains("/") else {
            throw ValidationError("--split takes a split name such as test or trainval, not a path: '\(split)'.")
        }
    }

    func run() throws {
        let truth = try EvaluationInputs.groundTruth(vocRoot: vocRoot, split: split, classes: classes, threads: threads)
        let loaded = try ResultFolders.load(results.map { URL(fileURLWithPath: $0) }, split: split, groundTruth: truth)
        for note in loaded.notes { Output.note(note) }
        let result = DetectionEvaluator.evaluate(groundTruth: truth, detections: loaded.detections, metric: metric,
                                                 protocol: evaluationProtocol)
        let boot = bootstrapOptions.run(truth, [loaded.detections], metric: metric, protocol: evaluationProtocol)
        var document = EvaluationReport.JSON(result)
        document.split = split
        document.images = truth.imageIDs.count
        document.mapCI95 = boot?.interval(0)
        document.bootstrap = bootstrapOptions.settings(images: truth.imageIDs.count)
        var table = EvaluationReport.table(result)
        if let boot {
            table += "mAP 95% interval " + IntervalText.bracket(boot.interval(0)) + " ("
                + IntervalText.plusMinus(boot.interval(0)) + ")\n" + IntervalText.footnote(boot)
        }
        if json == "-" { Output.note(table) } else { print(table, terminator: "") }
        if let json { try Output.writeJSON(document, to: json) }
    }
}
