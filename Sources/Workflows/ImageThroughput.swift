import Dispatch
import Foundation
import Imaging
import Tensors

/// One benchmark pass: the files are dealt round-robin to `threads` workers, each with its own reused decode and
/// resize buffers. Returns the sum of every resized byte (the same whatever the thread count).
public final class ImageThroughput: Sendable {
    public struct Report: Encodable {
        public var folder: String
        public var images: Int
        public var threads: Int
        public var size: Int
        var imagesPerSecond: [Double]
        public var best: Double
        public var median: Double
        /// Process CPU time (all threads) per image in milliseconds, per run: robust to other load on the machine,
        /// unlike the wall-clock rates.
        var cpuMillisecondsPerImage: [Double]
        public var bestCPUMillisecondsPerImage: Double
        public var checksum: UInt64
    }


    /// `mpq image-bench`: one warm-up pass over the folder's JPEGs (every file must decode), then `runs` timed ones.
    /// - Throws: `OptionsError` when the folder cannot be listed or holds no JPEG; the first file that fails.
    public static func measure(folder images: String, size: Int, threads: Int, runs: Int) throws -> Report {
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
            guard sum == checksum else { throw OptionsError("internal error: checksum changed between runs") }
            rates.append(Double(files.count) / seconds)
        }
        let sorted = rates.sorted()
        return Report(folder: images, images: files.count, threads: threads, size: size,
                      imagesPerSecond: rates, best: sorted.last ?? 0, median: sorted[sorted.count / 2],
                      cpuMillisecondsPerImage: cpu, bestCPUMillisecondsPerImage: cpu.min() ?? 0,
                      checksum: checksum)
    }

    /// The folder's JPEG files, sorted by name.
    static func jpegFiles(in folder: String) throws -> [URL] {
        let url = URL(fileURLWithPath: folder, isDirectory: true)
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw OptionsError("--images \(folder): cannot list the folder (\(error.localizedDescription)).")
        }
        let jpegs = names.filter { ["jpg", "jpeg"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        guard !jpegs.isEmpty else { throw OptionsError("--images \(folder): no .jpg or .jpeg files in the folder.") }
        return jpegs.map { url.appendingPathComponent($0) }
    }

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
