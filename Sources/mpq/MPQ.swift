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
        Start with `mpq demo` (the whole job on the embedded data); `mpq help <command>` shows each command's \
        options and examples.

        Examples:
          mpq demo
          mpq quantize --method multipoint --wbits 4 --avg-bits 4.25 --evaluate
          mpq evaluate --model model.pth --voc-root VOCdevkit/VOC2007 --split test
        """,
        version: "0.1.0",
        subcommands: [
            // In workflow order: what a new user runs first comes first.
            Demo.self,
            Quantize.self,
            Evaluate.self,
            Compare.self,
            Sensitivity.self,
            Diagnose.self,
            Detect.self,
            EvaluateDetections.self,
            Merge.self,
            Dataset.self,
            Inspect.self,
            Export.self,
            Bench.self,
            ImageBench.self,
        ]
    )

    static func main() {
        ProcessEnvironment.reexecIfNeeded()   // once, before any output: OpenBLAS kernels, OpenMP spin (see there)
        main(nil)
    }
}
