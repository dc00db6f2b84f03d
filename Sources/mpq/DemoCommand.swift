import ArgumentParser
import Foundation
import SSD
import Tensors
import Workflows

/// `mpq demo`: the whole toolkit on the data that ships in the repository.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole toolkit end to end on the embedded demo dataset and detector.",
        discussion: """
        Scores the float detector on the demo test split, quantizes it with rtn at 4 and 3 weight bits and with \
        multipoint at the matched budgets of 4.25 and 3.25 average bits (activations 8 bits, ranges and Gram \
        matrices from calibration images: ImageSets/Main/calib.txt if present, else trainval images with a JPEG \
        on disk, never test images), scores each (with the 95% interval of each mAP and of each difference to float: a paired bootstrap over the \
        test images, --bootstrap resamples, default 1000, 0 turns it off; --seed), and runs a small per-layer \
        sensitivity analysis. Prints a \
        summary table and writes summary.json, report.html (open it in a browser) and sensitivity/ into --out.

        The data is found from any current directory (set MPQ_HOME to the repository root to choose); \
        --voc-root and --model run the same job on your own data. --limit N runs a reduced demo on N test images.

        Examples:
          mpq demo
          mpq demo --out /tmp/demo --threads 2
          mpq demo --limit 20
          mpq demo --limit 20 --bootstrap 2000 --seed 3
          mpq demo --voc-root VOCdevkit/VOC2007 --model mb2-ssd-lite.pth --out voc-demo
        """
    )

    @Option(help: ArgumentHelp("The folder for summary.json, report.html and the sensitivity files.", valueName: "dir"))
    var out: String = "mpq-out/demo"

    @OptionGroup var datasetOption: DatasetOption
    var vocRoot: String? { datasetOption.vocRoot }

    @OptionGroup var modelOption: FloatModelOption
    var model: String? { modelOption.model }

    @Option(help: "Run a reduced demo on this many test images (and fewer calibration images and layers).")
    var limit: Int?

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    @OptionGroup var bootstrapOptions: BootstrapOptions

    @OptionGroup var engineOption: EngineOption
    var engine: QuantizedEngine { engineOption.engine }

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit).") }
        guard !out.isEmpty else { throw ValidationError("--out needs a folder.") }
    }

    func run() throws {
        Runtime.setThreads(threads)
        let inputs = try JobInputs.resolve(model: model, vocRoot: vocRoot)
        let folder = URL(fileURLWithPath: out)
        let job = DemoJob(inputs: inputs, out: folder, limit: limit, threads: threads,
                          bootstrap: bootstrapOptions.plan, engine: engine)
        let result = try job.run()
        try job.write(result)
        print(result.summary.table(), terminator: "")
        print(SensitivityJob.terminalTable(result.sensitivity, top: 5), terminator: "")
        print(String(format: "demo finished in %.1f s; open %@", result.summary.seconds,
                     folder.appendingPathComponent("report.html").path))
    }
}
