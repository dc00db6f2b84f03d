import ArgumentParser
import Dispatch
import Foundation
import Workflows

/// `mpq image-bench`: decode + resize throughput on a folder of JPEGs (a benchmark, not a test).
struct ImageBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image-bench",
        abstract: "Measure JPEG decode + OpenCV-identical resize throughput on a folder of images.",
        discussion: """
        Every JPEG of the folder is read from disk, decoded to RGB and resized to SIZE x SIZE with the \
        bilinear resize that is bit-identical to cv2.resize(INTER_LINEAR), once to warm up and then RUNS more \
        times. The files are split across THREADS workers (one image per worker at a time, buffers reused). \
        Prints images per second for every run, the best and the median, the process CPU time per image (all \
        threads; robust to other load on the machine), and a checksum of the resized pixels (the sum of all \
        bytes of one pass) that Scripts/bench_images.py compares with OpenCV's.

        Examples:
          mpq image-bench --images VOCdevkit/VOC2007/JPEGImages --threads 2
          mpq image-bench --images Tests/VOCTests/Fixtures/voc-samples/unannotated \\
              --runs 20 --json -
        """
    )

    @Option(help: "The folder whose .jpg/.jpeg files are decoded and resized (not searched recursively).")
    var images: String

    @Option(help: "The number of worker threads, each decoding whole images.")
    var threads: Int = 1

    @Option(help: "The side of the square output image in pixels.")
    var size: Int = 300

    @Option(help: "The number of timed passes over the folder, after one warm-up pass.")
    var runs: Int = 10

    @Option(help: "Write the results as JSON to this file, or to standard output with '-'.")
    var json: String?

    func validate() throws {
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256.") }
        guard size >= 1 && size <= 8192 else { throw ValidationError("--size must be between 1 and 8192.") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1.") }
    }

    func run() throws {
        let report = try asUsageError {
            try ImageThroughput.measure(folder: images, size: size, threads: threads, runs: runs)
        }
        if let json {
            try Output.writeJSON(report, to: json)
        }
        if json != "-" {
            print(String(format: "%d images, %d thread(s), %dx%d: best %.1f images/s, median %.1f images/s, "
                         + "best %.3f CPU ms/image (checksum %llu)", report.images, threads, size, size, report.best,
                         report.median, report.bestCPUMillisecondsPerImage, report.checksum))
        }
    }
}
