import ArgumentParser
import Tensors

/// The `mpq` command-line tool: quantize SSD detectors and score them on PASCAL VOC.
/// Thin by design: each subcommand parses, calls a module, prints.
@main
struct MPQ: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpq",
        abstract: "Multipoint quantization of SSD object detectors, scored on PASCAL VOC.",
        discussion: """
        Examples:
          mpq dataset stats --voc-root VOCdevkit/VOC2007 --split test
        """,
        version: "0.1.0",
        subcommands: [
            // Subcommands are registered here, one per line.
            Dataset.self,
            Inspect.self,
            Compare.self,
            Bench.self,
            EvaluateDetections.self,
            ImageBench.self,
            Evaluate.self,
            Detect.self,
            Sensitivity.self,
            Demo.self,
            Quantize.self,
        ]
    )

    static func main() {
        BLASCore.reexecIfBetterKernelsExist()   // once, before any output; see BLASCore
        main(nil)
    }
}
