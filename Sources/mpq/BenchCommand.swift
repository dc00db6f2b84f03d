import ArgumentParser
import Foundation
import Tensors

/// `mpq bench`: latency of the inference runtime.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the speed of the inference runtime.",
        discussion: """
        With --kernels, times the convolution kernels on the layer shapes that dominate VGG16-SSD and
        MobileNetV2-SSD-Lite at 300x300 and prints milliseconds and GFLOP/s per shape.

        Examples:
          mpq bench --kernels --threads 1
          mpq bench --kernels --threads 2 --json -
        """
    )

    @Flag(help: "Time the convolution kernels on representative SSD layer shapes.")
    var kernels = false

    @Option(help: "The number of threads the runtime uses; results are identical for any value.")
    var threads: Int = 2

    @Option(help: "Write the measurements as JSON to this file, or '-' for standard output.")
    var json: String?

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1.") }
        guard kernels else { throw ValidationError("Nothing to measure: pass --kernels.") }
    }

    func run() throws {
        Runtime.setThreads(threads)
        let results = KernelBenchmark.run()
        if let json {
            try Output.writeJSON(results, to: json)
        } else {
            for r in results {
                print(String(format: "%-34@ %9.3f ms %8.1f GFLOP/s wall %8.1f GFLOP/s per CPU-second",
                             r.name as NSString, r.medianMs, r.gflops, r.gflopsPerCPUSecond))
            }
        }
    }
}
