@testable import SSD
import Tensors
import XCTest

/// mpq's AVX2 int8 conv with 16-bit partial sums (`OneDNNProgram.int8S16`, Sources/CDNNL/mpq_qconv.c), forced on
/// whatever the CPU's default: accumulators equal the scalar integer reference exactly on every dense layer kind,
/// at the worst-case codes of each flush length; outputs (scales, bias, activations, residual accumulation, fused
/// fake quantization, u8 codes for the reader) equal oneDNN's int8 kernels on the same conv; the same bits on 1, 2
/// and 3 threads; convs whose codes are too large for 16-bit sums, and (by default) those with few input channels,
/// stay on oneDNN.
final class Int8S16KernelTests: XCTestCase {
    struct Layer {
        let name: String
        let channels, rows, size, kernel, stride, padding, dilation: Int
        let unsigned: Bool
        /// Weight codes are drawn from `-maxCode...maxCode - 1` (a signed grid of that many levels per side).
        let maxCode: Int
        /// Every input 255 (or 127 signed) and every code at -maxCode: the largest 16-bit partial sums.
        var extreme = false
    }

    static let layers: [Layer] = [
        .init(name: "dense 3x3 u8 w4", channels: 24, rows: 40, size: 11, kernel: 3, stride: 1, padding: 1,
              dilation: 1, unsigned: true, maxCode: 8),
        .init(name: "1x1 signed w4", channels: 64, rows: 33, size: 7, kernel: 1, stride: 1, padding: 0, dilation: 1,
              unsigned: false, maxCode: 8),
        .init(name: "strided 3x3 u8 w4", channels: 16, rows: 24, size: 13, kernel: 3, stride: 2, padding: 1,
              dilation: 1, unsigned: true, maxCode: 8),
        .init(name: "dilated 3x3 signed w4", channels: 16, rows: 16, size: 19, kernel: 3, stride: 1, padding: 6,
              dilation: 6, unsigned: false, maxCode: 8),
        .init(name: "first layer 3 channels signed w4", channels: 3, rows: 20, size: 12, kernel: 3, stride: 1,
              padding: 1, dilation: 1, unsigned: false, maxCode: 8),
        .init(name: "1x1 10 channels u8 w3", channels: 10, rows: 17, size: 5, kernel: 1, stride: 1, padding: 0,
              dilation: 1, unsigned: true, maxCode: 4),
        .init(name: "deep 3x3 u8 w3", channels: 96, rows: 32, size: 6, kernel: 3, stride: 1, padding: 1,
              dilation: 1, unsigned: true, maxCode: 4),
        .init(name: "extreme w4 (flush 8)", channels: 40, rows: 16, size: 6, kernel: 3, stride: 1, padding: 1,
              dilation: 1, unsigned: true, maxCode: 8, extreme: true),
        .init(name: "extreme w5 (flush 4)", channels: 40, rows: 16, size: 6, kernel: 3, stride: 1, padding: 1,
              dilation: 1, unsigned: true, maxCode: 16, extreme: true),
    ]

    override func setUpWithError() throws {
        try XCTSkipUnless(OneDNNProgram.int8S16Supported, "the 16-bit partial-sum kernels need AVX2")
    }

    func outputSize(_ l: Layer) -> Int { (l.size + 2 * l.padding - l.dilation * (l.kernel - 1) - 1) / l.stride + 1 }

    func randomLayer(_ l: Layer, seed: UInt64) -> (input: [Int32], codes: [Int8]) {
        var r = IntegerConvTests.Random(state: seed)
        let n = l.channels * l.size * l.size, m = l.rows * l.channels * l.kernel * l.kernel
        if l.extreme {
            return ([Int32](repeating: l.unsigned ? 255 : 127, count: n), [Int8](repeating: Int8(-l.maxCode), count: m))
        }
        let input = (0..<n).map { _ in Int32(l.unsigned ? r.int(0...255) : r.int(-127...127)) }
        let codes = (0..<m).map { _ in Int8(r.int(-l.maxCode...(l.maxCode - 1))) }
        return (input, codes)
    }

    struct Epilogue {
        var scales: [Float]
        var bias: [Float]?
        var activation: Activation = .identity
        var accumulate: [Float]? = nil   // the destination's values before the conv (NCHW)
        var grid: (scale: Float, qmin: Float, qmax: Float)? = nil
        var codesOut = false
    }

    /// One conv on a program with the s16 kernels on or off: CHW codes in, CHW floats (or codes as floats) out.
    func run(_ l: Layer, input: [Int32], codes: [Int8], _ e: Epilogue, s16: OneDNNProgram.Int8S16,
             threads: Int = 1) throws -> (out: [Float], implementation: String) {
        let p = try OneDNNProgram(threads: threads, int8S16: s16)
        let o = outputSize(l)
        let x = try p.tensor(slot: 0, channels: l.channels, height: l.size, width: l.size, type: .u8)
        let y = try p.tensor(slot: 1, channels: l.rows, height: o, width: o, type: e.codesOut ? .u8 : .f32)
        let step = try p.int8Convolution(weight: codes, scales: e.scales, bias: e.bias,
                                         sourceZeroPoint: l.unsigned ? 0 : 128, groups: 1, kernel: l.kernel,
                                         stride: l.stride, padding: l.padding, dilation: l.dilation,
                                         activation: e.activation, from: x, to: y, accumulate: e.accumulate != nil,
                                         outputGrid: e.grid, name: l.name)
        try p.finalize()
        let raw = try XCTUnwrap(p.bytes(x))
        let hw = l.size * l.size, zp: Int32 = l.unsigned ? 0 : 128
        for c in 0..<l.channels {
            for i in 0..<hw {
                raw.storeBytes(of: UInt8(input[c * hw + i] + zp), toByteOffset: i * l.channels + c, as: UInt8.self)
            }
        }
        if let before = e.accumulate {
            let d = try XCTUnwrap(p.data(y))
            for c in 0..<l.rows { for i in 0..<(o * o) { d[i * l.rows + c] = before[c * o * o + i] } }
        }
        try p.execute(step)
        var chw = [Float](repeating: 0, count: l.rows * o * o)
        if e.codesOut {
            let b = try XCTUnwrap(p.bytes(y)).assumingMemoryBound(to: UInt8.self)
            for c in 0..<l.rows { for i in 0..<(o * o) { chw[c * o * o + i] = Float(b[i * l.rows + c]) } }
        } else {
            nhwcToNCHW(try XCTUnwrap(p.data(y)), &chw, channels: l.rows, pixels: o * o)
        }
        return (chw, p.implementation(step))
    }

    func testFlushLengthsAreTheLargestExactOnes() {
        // A 16-bit lane gains at most 2 · 255 · max|w| per step: floor(32767 / (510 · max|w|)) steps.
        XCTAssertEqual(OneDNNProgram.int8S16Steps(maxAbsCode: 4), 16)    // 32767 / 2040 = 16.06
        XCTAssertEqual(OneDNNProgram.int8S16Steps(maxAbsCode: 8), 8)     // 32767 / 4080 = 8.03
        XCTAssertEqual(OneDNNProgram.int8S16Steps(maxAbsCode: 16), 4)    // 32767 / 8160 = 4.02
        XCTAssertEqual(OneDNNProgram.int8S16Steps(maxAbsCode: 17), 3)    // 32767 / 8670 = 3.78
        XCTAssertEqual(OneDNNProgram.int8S16Steps(maxAbsCode: 64), 1)
        XCTAssertEqual(OneDNNProgram.int8S16Steps(maxAbsCode: 0), 64)    // all-zero weights: as for |w| = 1
    }

    func testAccumulatorsEqualTheIntegerReferenceOnEveryDenseLayerKind() throws {
        for (k, l) in Self.layers.enumerated() {
            let (input, codes) = randomLayer(l, seed: 0x51ED_2701 &+ UInt64(k) &* 104_729)
            let want = IntegerConvReference.accumulators(input: input, channels: l.channels, height: l.size,
                                                         width: l.size, codes: codes, rows: l.rows, kernel: l.kernel,
                                                         stride: l.stride, padding: l.padding, dilation: l.dilation,
                                                         groups: 1)
            XCTAssertLessThan(want.map { abs($0) }.max() ?? 0, 1 << 24, "accumulators exact in Float")
            if l.extreme {
                // The worst case: each 16-bit lane holds flush · 2 · 255 · maxCode in magnitude before widening.
                let flush = OneDNNProgram.int8S16Steps(maxAbsCode: l.maxCode)
                XCTAssertGreaterThan(flush * 2 * 255 * l.maxCode, 32767 - 2 * 255 * l.maxCode, "\(l.name): tight")
            }
            for threads in [1, 2, 3] {
                let e = Epilogue(scales: .init(repeating: 1, count: l.rows), bias: nil)
                let (got, impl) = try run(l, input: input, codes: codes, e, s16: .all, threads: threads)
                XCTAssertEqual(impl, "mpq:int8_s16:avx2", l.name)
                let bad = zip(got, want).filter { $0 != Float($1) }.count
                XCTAssertEqual(bad, 0, "\(l.name), \(threads) threads: \(bad) of \(want.count) differ")
            }
        }
    }

    func testOutputsEqualOneDNNsIntegerConvWithEveryEpilogue() throws {
        for (k, l) in Self.layers.enumerated() where !l.extreme {
            let (input, codes) = randomLayer(l, seed: 0xAB12 &+ UInt64(k))
            var r = IntegerConvTests.Random(state: 99 &+ UInt64(k))
            let scales = (0..<l.rows).map { _ in Float(r.int(1...1000)) * 2e-6 }
            let bias = (0..<l.rows).map { _ in Float(r.int(-1000...1000)) * 1e-3 }
            let o = outputSize(l)
            let before = (0..<(l.rows * o * o)).map { _ in Float(r.int(-500...500)) * 1e-3 }
            var cases: [(String, Epilogue)] = []
            for a in [Activation.identity, .relu, .relu6] {
                cases.append(("\(a)", Epilogue(scales: scales, bias: bias, activation: a)))
                cases.append(("\(a) + grid", Epilogue(scales: scales, bias: bias, activation: a,
                                                       grid: (6.0 / 255, 0, 255))))
                cases.append(("\(a) codes 4-bit", Epilogue(scales: scales, bias: bias, activation: a,
                                                           grid: (0.05, 0, 15), codesOut: true)))
                cases.append(("\(a) codes 8-bit", Epilogue(scales: scales, bias: bias, activation: a,
                                                           grid: (6.0 / 255, 0, 255), codesOut: true)))
            }
            cases.append(("accumulate", Epilogue(scales: scales, bias: bias, accumulate: before)))
            cases.append(("accumulate, no bias", Epilogue(scales: scales, bias: nil, accumulate: before)))
            for (what, e) in cases {
                let (ours, impl) = try run(l, input: input, codes: codes, e, s16: .all, threads: 2)
                let (theirs, theirImpl) = try run(l, input: input, codes: codes, e, s16: .off, threads: 1)
                XCTAssertEqual(impl, "mpq:int8_s16:avx2")
                XCTAssertFalse(theirImpl.hasPrefix("mpq"), theirImpl)
                let bad = zip(ours, theirs).filter { $0 != $1 }.count
                XCTAssertEqual(bad, 0, "\(l.name), \(what): \(bad) of \(ours.count) differ from \(theirImpl)")
            }
        }
    }

    /// `.on` (the default without VNNI) takes a conv only from 64 steps of 4 input channels per output on.
    func testOnModeTakesConvsFromSixtyFourStepsOn() throws {
        for (channels, kernel, ours) in [(252, 1, false), (256, 1, true), (28, 3, false), (29, 3, true)] {
            let l = Layer(name: "\(channels) channels \(kernel)x\(kernel)", channels: channels, rows: 16, size: 4,
                          kernel: kernel, stride: 1, padding: kernel / 2, dilation: 1, unsigned: true, maxCode: 8)
            let (input, codes) = randomLayer(l, seed: 21)
            let e = Epilogue(scales: .init(repeating: 1, count: l.rows), bias: nil)
            let (got, impl) = try run(l, input: input, codes: codes, e, s16: .on)
            XCTAssertEqual(impl == "mpq:int8_s16:avx2", ours, "\(l.name): \(impl)")
            let want = IntegerConvReference.accumulators(input: input, channels: l.channels, height: l.size,
                                                         width: l.size, codes: codes, rows: l.rows, kernel: kernel,
                                                         stride: 1, padding: kernel / 2, dilation: 1, groups: 1)
            XCTAssertEqual(got, want.map { Float($0) }, l.name)
        }
    }

    func testCodesTooLargeForSixteenBitSumsStayOnOneDNN() throws {
        let base = Self.layers[0]
        for (maxCode, ours) in [(16, true), (17, false), (64, false)] {
            let l = Layer(name: "codes ±\(maxCode)", channels: base.channels, rows: base.rows, size: base.size,
                          kernel: 3, stride: 1, padding: 1, dilation: 1, unsigned: true, maxCode: maxCode)
            let input = randomLayer(l, seed: 3).input
            var codes = randomLayer(l, seed: 3).codes
            codes[5] = Int8(maxCode)   // at least one code at the largest magnitude
            let e = Epilogue(scales: .init(repeating: 1, count: l.rows), bias: nil)
            let (got, impl) = try run(l, input: input, codes: codes, e, s16: .all)
            XCTAssertEqual(impl == "mpq:int8_s16:avx2", ours, "\(l.name): \(impl)")
            let want = IntegerConvReference.accumulators(input: input, channels: l.channels, height: l.size,
                                                         width: l.size, codes: codes, rows: l.rows, kernel: 3,
                                                         stride: 1, padding: 1, dilation: 1, groups: 1)
            XCTAssertEqual(got, want.map { Float($0) }, "\(l.name): exact on either kernel (|code| <= 64)")
        }
    }
}
