import XCTest
@testable import Tensors

/// `OneDNNProgram` on its own: conv (grouped, strided, dilated, with a residual add) and max pool (ceil mode)
/// against our kernels, and its errors.
final class OneDNNProgramTests: XCTestCase {
    private func nhwc(_ x: Tensor) -> [Float] {
        let c = x.shape[1], hw = x.shape[2] * x.shape[3]
        var y = [Float](repeating: 0, count: x.count)
        x.data.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in nchwToNHWC(xb.baseAddress!, yb.baseAddress!, channels: c, pixels: hw) }
        }
        return y
    }

    func testConvolutionsAndPoolMatchTheNativeKernels() throws {
        var rng = SeededGenerator(seed: 7)
        let x = randomTensor([1, 16, 13, 11], &rng)
        let cases: [(String, Conv2D)] = [
            ("3x3 s2 relu6", Conv2D(weight: randomTensor([24, 16, 3, 3], &rng, scale: 0.2), bias: (0..<24).map { Float($0) / 10 },
                                    stride: 2, padding: 1, activation: .relu6)),
            ("depthwise", Conv2D(weight: randomTensor([16, 1, 3, 3], &rng), bias: nil, padding: 1, groups: 16,
                                 activation: .relu)),
            ("dilated", Conv2D(weight: randomTensor([8, 16, 3, 3], &rng, scale: 0.2), bias: [Float](repeating: 1, count: 8),
                               padding: 2, dilation: 2)),
            ("1x1", Conv2D(weight: randomTensor([16, 16, 1, 1], &rng, scale: 0.3), bias: nil)),
        ]
        for (name, conv) in cases {
            for threads in [1, 2] {
                let program = try OneDNNProgram(threads: threads)
                let input = try program.tensor(slot: 0, channels: 16, height: 13, width: 11)
                let output = try program.output(of: conv, for: input, slot: 1)
                let step = try program.convolution(conv, from: input, to: output, name: name)
                try program.finalize()
                let src = nhwc(x)
                program.data(input)!.update(from: src, count: src.count)
                try program.execute(step)
                let expected = conv(x)
                let got = Array(UnsafeBufferPointer(start: program.data(output)!, count: expected.count))
                XCTAssertEqual(got.count, nhwc(expected).count)
                for (a, b) in zip(got, nhwc(expected)) { XCTAssertEqual(a, b, accuracy: 1e-4, "\(name) \(threads)") }
                XCTAssertFalse(program.implementation(step).isEmpty)
            }
        }
        // A residual add: y <- conv(x) + y, the conv without activation.
        let conv = Conv2D(weight: randomTensor([16, 16, 1, 1], &rng, scale: 0.3), bias: nil)
        let program = try OneDNNProgram(threads: 2)
        let input = try program.tensor(slot: 0, channels: 16, height: 13, width: 11)
        let accumulator = try program.tensor(slot: 1, channels: 16, height: 13, width: 11)
        let step = try program.convolution(conv, from: input, to: accumulator, accumulate: true, name: "residual")
        // Ceil-mode pooling 13x11 -> 7x6 (the last window starts inside the input and hangs over its edge).
        let pool = MaxPool2D(kernel: 2, stride: 2, ceilMode: true)
        let pooled = try program.tensor(slot: 2, channels: 16, height: 7, width: 6)
        let poolStep = try program.maxPool(pool, from: accumulator, to: pooled)
        try program.finalize()
        let src = nhwc(x), residual = nhwc(randomTensor([1, 16, 13, 11], &rng))
        program.data(input)!.update(from: src, count: src.count)
        program.data(accumulator)!.update(from: residual, count: residual.count)
        try program.execute(step)
        let sum = zip(nhwc(conv(x)), residual).map { $0 + $1 }
        let got = Array(UnsafeBufferPointer(start: program.data(accumulator)!, count: sum.count))
        for (a, b) in zip(got, sum) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        try program.execute(poolStep)
        // The native pool of the same values (what the accumulator holds), NCHW: max is exact.
        var nchwSum = [Float](repeating: 0, count: got.count)
        for p in 0..<(13 * 11) { for c in 0..<16 { nchwSum[c * 143 + p] = got[p * 16 + c] } }
        let expected = nhwc(pool(Tensor(shape: [1, 16, 13, 11], data: nchwSum)))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: program.data(pooled)!, count: expected.count)), expected)
    }

    func testErrorsAreThrownNotCrashes() throws {
        let program = try OneDNNProgram(threads: 1)
        XCTAssertThrowsError(try program.tensor(slot: 0, channels: 0, height: 3, width: 3)) {
            XCTAssertTrue("\($0)".contains("bad tensor shape"), "\($0)")
        }
        let x = try program.tensor(slot: 0, channels: 4, height: 8, width: 8)
        let wrong = try program.tensor(slot: 1, channels: 4, height: 5, width: 5)
        let conv = Conv2D(weight: Tensor(zeros: [4, 4, 3, 3]), bias: nil, padding: 1)
        XCTAssertThrowsError(try program.convolution(conv, from: x, to: wrong, name: "c")) {
            XCTAssertTrue("\($0)".contains("conv c") && "\($0)".contains("does not fit"), "\($0)")
        }
        let activated = Conv2D(weight: Tensor(zeros: [4, 4, 3, 3]), bias: nil, padding: 1, activation: .relu)
        let y = try program.tensor(slot: 1, channels: 4, height: 8, width: 8)
        XCTAssertThrowsError(try program.convolution(activated, from: x, to: y, accumulate: true, name: "r"))
        // Running before `finalize`, or a step that does not exist.
        XCTAssertThrowsError(try program.execute(0))
        try program.finalize()
        XCTAssertThrowsError(try program.execute(5)) { XCTAssertTrue("\($0)".contains("step 5"), "\($0)") }
    }
}
