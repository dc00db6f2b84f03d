import ArgumentParser
import Foundation
import VOC
import Workflows

/// `mpq dataset`: look at a PASCAL VOC dataset before using it (counts, and a full health check).
struct Dataset: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Inspect and check a PASCAL VOC dataset (VOCdevkit/VOCxxxx layout).",
        discussion: """
        A dataset is a folder with Annotations/<id>.xml, JPEGImages/<id>.jpg and ImageSets/Main/<split>.txt. \
        Classes are the 20 PASCAL VOC classes unless --classes names a class list file or the folder holds \
        a labels.txt (one class per line, or comma-separated; a leading BACKGROUND entry is dropped).

        Examples:
          mpq dataset stats --voc-root VOCdevkit/VOC2007 --split test
          mpq dataset stats --voc-root VOCdevkit/VOC2007 --split test --json stats.json
          mpq dataset check --voc-root VOCdevkit/VOC2012 --split trainval
          mpq dataset check --voc-root my-data --split val --classes names.txt
        """,
        subcommands: [Stats.self, Check.self]
    )
}

/// The options every `mpq dataset` subcommand shares.
struct DatasetOptions: ParsableArguments {
    @Option(name: .customLong("voc-root"),
            help: ArgumentHelp("The dataset folder, e.g. VOCdevkit/VOC2007 (the folder holding Annotations, "
                + "ImageSets and JPEGImages).", valueName: "dir"))
    var vocRoot: String

    @Option(help: ArgumentHelp("The split to read: the name of a file ImageSets/Main/<name>.txt, e.g. test or "
        + "trainval.", valueName: "name"))
    var split: String

    @Option(help: ArgumentHelp("A class list file (one class per line, # comments); overrides labels.txt in the "
        + "dataset folder and the default 20 VOC classes.", valueName: "file"))
    var classes: String?

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    func validate() throws {
        guard !split.isEmpty, !split.contains("/") else {
            throw ValidationError("--split takes a split name such as test or trainval, not a path: '\(split)'.")
        }
    }

    /// Opens the dataset: reads the class list and the split file.
    func open() throws -> VOCDataset {
        let root = URL(fileURLWithPath: vocRoot)
        let classList = try ClassList.forDataset(root: root, explicit: classes.map { URL(fileURLWithPath: $0) })
        return try VOCDataset(root: root, split: split, classes: classList)
    }
}

extension Dataset {
    /// `mpq dataset stats`: counts per class, as a table and optionally JSON.
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count images, objects and difficult objects per class, and the image size range.",
            discussion: """
            Reads every annotation of the split (not the images). Objects whose class is not in the class list \
            are counted apart, under "unknown_classes" in the JSON; `mpq dataset check` lists them one by one.

            JSON shape: {"images": N, "objects": N, "difficult": N, "classes": {"<name>": {"images": N, \
            "objects": N, "difficult": N}}, "unknown_classes": {...}, "image_size": {"min_width": W, \
            "max_width": W, "min_height": H, "max_height": H}, "split": "<name>"}. Every class of the list is \
            present, zeros included; a class's "images" counts the images holding at least one of its objects.

            Examples:
              mpq dataset stats --voc-root VOCdevkit/VOC2007 --split test
              mpq dataset stats --voc-root VOCdevkit/VOC2007 --split test --json -
              mpq dataset stats --voc-root my-data --split train --classes names.txt
            """
        )

        @OptionGroup var dataset: DatasetOptions

        @Option(help: ArgumentHelp("Also write the counts as JSON to this file, or to standard output with '-' "
            + "(the table then goes to standard error).", valueName: "file"))
        var json: String?

        func run() throws {
            let voc = try dataset.open()
            let annotations = try voc.loadAnnotations(threads: dataset.threads, checkClasses: false)
            let stats = DatasetStatistics(annotations: annotations, classes: voc.classes, split: voc.split)
            let table = StatsTable.render(stats, root: voc.root.path)
            if json == "-" {
                Output.note(table)
            } else {
                print(table)
            }
            if stats.unknownObjects > 0 {
                let names = stats.unknownClasses.keys.sorted()
                    .map { "\($0) (\(stats.unknownClasses[$0]?.objects ?? 0))" }
                Output.note("note: \(stats.unknownObjects) object(s) of classes not in "
                    + "\(voc.classes.sourceDescription), counted apart (marked ?, not in the totals): "
                    + names.joined(separator: ", "))
            }
            if let json { try Output.writeJSON(stats, to: json) }
        }
    }

    /// `mpq dataset check`: every problem of every file, one line each.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parse every annotation and decode every image of a split; list every problem.",
            discussion: """
            Prints one line per problem on standard output, "<file>[:<line>]: <problem>", and a summary on \
            standard error; exits with status 1 if there is any problem, 0 otherwise. Checked: annotation \
            syntax and fields, classes outside the class list, boxes outside the image (VOC boxes are 1-based), \
            missing, truncated or corrupt JPEGs, and image sizes that differ from the annotation's <size>.

            Examples:
              mpq dataset check --voc-root VOCdevkit/VOC2007 --split test
              mpq dataset check --voc-root VOCdevkit/VOC2012 --split trainval --threads 2
              mpq dataset check --voc-root my-data --split val --classes names.txt
            """
        )

        @OptionGroup var dataset: DatasetOptions

        @Flag(help: "Check the annotations only, without decoding the images.")
        var skipImages = false

        func run() throws {
            let voc = try dataset.open()
            let problems = DatasetChecker.check(voc, threads: dataset.threads, decodeImages: !skipImages)
            for problem in problems { print(problem.description) }
            let files = Set(problems.map(\.file)).count
            let what = skipImages ? "annotations" : "images and annotations"
            if problems.isEmpty {
                Output.note("checked \(voc.imageIDs.count) \(what) of split '\(voc.split)': no problems")
            } else {
                Output.note("checked \(voc.imageIDs.count) \(what) of split '\(voc.split)': "
                    + "\(problems.count) problem(s) in \(files) file(s)")
                throw ExitCode(1)
            }
        }
    }
}

/// The terminal table of `mpq dataset stats`.
enum StatsTable {
    static func render(_ stats: DatasetStatistics, root: String) -> String {
        var lines: [String] = []
        lines.append("\(root), split '\(stats.split)': \(stats.images) images, \(stats.objects) objects "
            + "(\(stats.difficult) difficult)")
        if let size = stats.imageSize {
            lines.append("image size: width \(size.minWidth)-\(size.maxWidth), "
                + "height \(size.minHeight)-\(size.maxHeight)")
        }
        let names = stats.classOrder + stats.unknownClasses.keys.map { $0 + " (?)" }
        let nameWidth = max(5, names.map(\.count).max() ?? 5)
        func row(_ name: String, _ a: String, _ b: String, _ c: String) -> String {
            name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " + pad(a, 7) + "  " + pad(b, 8)
                + "  " + pad(c, 9)
        }
        lines.append("")
        lines.append(row("class", "images", "objects", "difficult"))
        for name in stats.classOrder {
            let counts = stats.classes[name] ?? DatasetStatistics.ClassCounts()
            lines.append(row(name, "\(counts.images)", "\(counts.objects)", "\(counts.difficult)"))
        }
        for name in stats.unknownClasses.keys.sorted() {
            let counts = stats.unknownClasses[name] ?? DatasetStatistics.ClassCounts()
            lines.append(row(name + " (?)", "\(counts.images)", "\(counts.objects)", "\(counts.difficult)"))
        }
        lines.append(row("total", "\(stats.images)", "\(stats.objects)", "\(stats.difficult)"))
        return lines.joined(separator: "\n")
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
