// Micro-benchmark of the convolution kernels on the layer shapes that dominate the SSD networks.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One timed convolution shape.
public struct KernelTiming: Sendable, Codable {
    public let name: String
    /// Median wall-clock time of one call.
    public let medianMs: Double
    /// FLOPs (2 per multiply-add) over the median wall-clock time.
    public let gflops: Double
    /// FLOPs over the process CPU time per call: the per-core rate, robust to a busy machine.
    public let gflopsPerCPUSecond: Double
}

/// Times representative VGG16-SSD and MobileNetV2-SSD-Lite convolutions at 300x300 input.
public enum KernelBenchmark {
    /// (name, input [C, H, W], out channels, kernel, stride, padding, dilation, groups).
    static let shapes: [(String, [Int], Int, Int, Int, Int, Int, Int)] = [
        ("vgg conv1_2 64->64 3x3 @300", [64, 300, 300], 64, 3, 1, 1, 1, 1),
        ("vgg conv2_2 128->128 3x3 @150", [128, 150, 150], 128, 3, 1, 1, 1, 1),
        ("vgg conv3_2 256->256 3x3 @75", [256, 75, 75], 256, 3, 1, 1, 1, 1),
        ("vgg conv4_2 512->512 3x3 @38", [512, 38, 38], 512, 3, 1, 1, 1, 1),
        ("vgg conv5_2 512->512 3x3 @19", [512, 19, 19], 512, 3, 1, 1, 1, 1),
        ("vgg conv6 512->1024 3x3 d6 @19", [512, 19, 19], 1024, 3, 1, 6, 6, 1),
        ("vgg conv7 1024->1024 1x1 @19", [1024, 19, 19], 1024, 1, 1, 0, 1, 1),
        ("mb2 expand 24->144 1x1 @75", [24, 75, 75], 144, 1, 1, 0, 1, 1),
        ("mb2 dw 144 3x3 s1 @75", [144, 75, 75], 144, 3, 1, 1, 1, 144),
        ("mb2 dw 96 3x3 s2 @150", [96, 150, 150], 96, 3, 2, 1, 1, 96),
        ("mb2 project 144->24 1x1 @75", [144, 75, 75], 24, 1, 1, 0, 1, 1),
        ("mb2 dw 576 3x3 s1 @19", [576, 19, 19], 576, 3, 1, 1, 1, 576),
        ("mb2 stem 3->32 3x3 s2 @300", [3, 300, 300], 32, 3, 2, 1, 1, 1),
    ]

    /// Runs every shape for about `secondsPerShape` and returns the median time of a call.
    public static func run(secondsPerShape: Double = 0.3) -> [KernelTiming] {
        var rng = SystemRandomNumberGenerator()
        var results: [KernelTiming] = []
        for (name, input, out, k, s, p, d, groups) in shapes {
            let c = input[0]
            let w = Tensor(shape: [out, c / groups, k, k],
                           data: (0..<(out * c / groups * k * k)).map { _ in Float.random(in: -0.1...0.1, using: &rng) })
            let conv = Conv2D(weight: w, bias: [Float](repeating: 0.1, count: out), stride: s, padding: p,
                              dilation: d, groups: groups, activation: .relu)
            let x = Tensor(shape: [1] + input, data: (0..<input.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
            var y = Tensor(shape: [0], data: [])
            var scratch: [Float] = []
            conv(x, into: &y, scratch: &scratch)   // warm-up, grows the buffers
            var times: [Double] = []
            let cpu0 = ProcessClock.cpuSeconds()
            let start = Date()
            while times.count < 3 || (Date().timeIntervalSince(start) < secondsPerShape && times.count < 200) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                conv(x, into: &y, scratch: &scratch)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            let cpuPerCall = (ProcessClock.cpuSeconds() - cpu0) / Double(times.count)
            times.sort()
            let median = times[times.count / 2]
            let flops = 2.0 * Double(y.count) * Double(c / groups * k * k)
            results.append(KernelTiming(name: name, medianMs: median, gflops: flops / median / 1e6,
                                        gflopsPerCPUSecond: flops / cpuPerCall / 1e9))
        }
        return results
    }
}
