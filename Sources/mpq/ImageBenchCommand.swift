import ArgumentParser
import Dispatch
import Foundation
import Imaging
import Tensors
import VOC
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

    struct Report: Encodable {
        var folder: String
        var images: Int
        var threads: Int
        var size: Int
        var imagesPerSecond: [Double]
        var best: Double
        var median: Double
        /// Process CPU time (all threads) per image in milliseconds, per run: robust to other load on the machine,
        /// unlike the wall-clock rates.
        var cpuMillisecondsPerImage: [Double]
        var bestCPUMillisecondsPerImage: Double
        var checksum: UInt64
    }

    func run() throws {
        let files = try Self.jpegFiles(in: images)
        let bench = ImageThroughput(files: files, size: size, threads: threads)
        let checksum = try bench.pass()  // warm-up: page cache, buffers, and every file must decode
        var rates: [Double] = []
        var cpu: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            let cpuStart = ProcessClock.cpuSeconds()
            let sum = try bench.pass()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            cpu.append((ProcessClock.cpuSeconds() - cpuStart) * 1000 / Double(files.count))
            guard sum == checksum else { throw ValidationError("internal error: checksum changed between runs") }
            rates.append(Double(files.count) / seconds)
        }
        let sorted = rates.sorted()
        let report = Report(folder: images, images: files.count, threads: threads, size: size,
                            imagesPerSecond: rates, best: sorted.last ?? 0, median: sorted[sorted.count / 2],
                            cpuMillisecondsPerImage: cpu, bestCPUMillisecondsPerImage: cpu.min() ?? 0,
                            checksum: checksum)
        if let json {
            try Output.writeJSON(report, to: json)
        }
        if json != "-" {
            print(String(format: "%d images, %d thread(s), %dx%d: best %.1f images/s, median %.1f images/s, "
                         + "best %.3f CPU ms/image (checksum %llu)", files.count, threads, size, size, report.best,
                         report.median, report.bestCPUMillisecondsPerImage, checksum))
        }
    }

    /// The folder's JPEG files, sorted by name.
    static func jpegFiles(in folder: String) throws -> [URL] {
        let url = URL(fileURLWithPath: folder, isDirectory: true)
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw ValidationError("--images \(folder): cannot list the folder (\(error.localizedDescription)).")
        }
        let jpegs = names.filter { ["jpg", "jpeg"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        guard !jpegs.isEmpty else { throw ValidationError("--images \(folder): no .jpg or .jpeg files in the folder.") }
        return jpegs.map { url.appendingPathComponent($0) }
    }
}

/// One benchmark pass: the files are dealt round-robin to `threads` workers, each with its own reused decode and
/// resize buffers. Returns the sum of every resized byte (the same whatever the thread count).
final class ImageThroughput: Sendable {
    let files: [URL]
    let size: Int
    let workers: [Worker]

    /// A worker's buffers and results; only that worker's thread touches them during a pass.
    final class Worker: @unchecked Sendable {
        var image = RGBImage()
        var resized = RGBImage()
        var sum: UInt64 = 0
        var error: ImageError?
    }

    init(files: [URL], size: Int, threads: Int) {
        self.files = files
        self.size = size
        workers = (0..<threads).map { _ in Worker() }
    }

    func pass() throws -> UInt64 {
        DispatchQueue.concurrentPerform(iterations: workers.count) { index in self.work(index) }
        if let error = workers.compactMap({ $0.error }).first { throw error }
        return workers.reduce(0) { $0 &+ $1.sum }
    }

    private func work(_ index: Int) {
        let worker = workers[index]
        worker.sum = 0
        worker.error = nil
        for file in stride(from: index, to: files.count, by: workers.count) {
            do {
                try JPEGDecoder.decode(fileAt: files[file], into: &worker.image)
            } catch {
                worker.error = error as? ImageError ?? ImageError(file: files[file].path, problem: "\(error)")
                return
            }
            worker.image.resize(into: &worker.resized, width: size, height: size)
            worker.sum &+= worker.resized.pixels.withUnsafeBufferPointer { Self.byteSum($0) }
        }
    }

    private static func byteSum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var total: UInt64 = 0
        for b in bytes { total &+= UInt64(b) }
        return total
    }
}
