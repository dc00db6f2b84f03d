@testable import SSD
import Tensors
import XCTest

/// The int8 convolution of the oneDNN engine against the scalar integer reference (`IntegerConvReference`):
/// accumulators equal exactly on random layers of every kind; scales, bias and activation applied as
/// `act(scale · acc + bias)`.
final class IntegerConvTests: XCTestCase {
    struct Layer {
        let name: String
        let channels, rows, size, kernel, stride, padding, dilation, groups: Int
        let unsigned: Bool
    }

    static let layers: [Layer] = [
        .init(name: "dense 3x3 u8", channels: 24, rows: 40, size: 11, kernel: 3, stride: 1, padding: 1, dilation: 1,
              groups: 1, unsigned: true),
        .init(name: "dense 1x1 s8", channels: 64, rows: 33, size: 7, kernel: 1, stride: 1, padding: 0, dilation: 1,
              groups: 1, unsigned: false),
        .init(name: "strided 3x3 u8", channels: 16, rows: 24, size: 13, kernel: 3, stride: 2, padding: 1, dilation: 1,
              groups: 1, unsigned: true),
        .init(name: "dilated 3x3 s8", channels: 16, rows: 16, size: 19, kernel: 3, stride: 1, padding: 6,
              dilation: 6, groups: 1, unsigned: false),
        .init(name: "grouped 3x3 u8", channels: 32, rows: 48, size: 9, kernel: 3, stride: 1, padding: 1, dilation: 1,
              groups: 4, unsigned: true),
        .init(name: "depthwise 3x3 u8", channels: 48, rows: 48, size: 10, kernel: 3, stride: 1, padding: 1,
              dilation: 1, groups: 48, unsigned: true),
        .init(name: "depthwise strided s8", channels: 32, rows: 32, size: 10, kernel: 3, stride: 2,
              padding: 1, dilation: 1, groups: 32, unsigned: false),
        .init(name: "extreme codes u8", channels: 40, rows: 8, size: 6, kernel: 3, stride: 1, padding: 1, dilation: 1,
              groups: 1, unsigned: true),
    ]

    /// xorshift, deterministic.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        mutating func int(_ range: ClosedRange<Int>) -> Int {
            range.lowerBound + Int(next() % UInt64(range.count))
        }
    }

    /// Runs one int8 conv on oneDNN: input codes (CHW) in, float output (CHW) out.
    /// A signed layer's codes go in as u8 `code + 128` with source zero point 128 (as the engine runs them).
    func run(_ l: Layer, input: [Int32], codes: [Int8], scales: [Float], bias: [Float]?, activation: Activation,
             threads: Int = 1) throws -> (out: [Float], implementation: String) {
        let p = try OneDNNProgram(threads: threads)
        let zp = l.unsigned ? 0 : 128
        let x = try p.tensor(slot: 0, channels: l.channels, height: l.size, width: l.size, type: .u8)
        let o = (l.size + 2 * l.padding - l.dilation * (l.kernel - 1) - 1) / l.stride + 1
        let y = try p.tensor(slot: 1, channels: l.rows, height: o, width: o)
        let step = try p.int8Convolution(weight: codes, scales: scales, bias: bias, sourceZeroPoint: zp, groups: l.groups, kernel: l.kernel,
                                         stride: l.stride, padding: l.padding, dilation: l.dilation,
                                         activation: activation, from: x, to: y, name: l.name)
        try p.finalize()
        try writeCodes(input, of: l, into: x, of: p)
        try p.execute(step)
        let out = try XCTUnwrap(p.data(y))
        var chw = [Float](repeating: 0, count: l.rows * o * o)
        nhwcToNCHW(out, &chw, channels: l.rows, pixels: o * o)
        return (chw, p.implementation(step))
    }

    /// Stores CHW input codes into the u8 NHWC tensor `x` (a signed layer's as `code + 128`).
    func writeCodes(_ input: [Int32], of l: Layer, into x: OneDNNTensor, of p: OneDNNProgram) throws {
        let raw = try XCTUnwrap(p.bytes(x))
        let hw = l.size * l.size, zp: Int32 = l.unsigned ? 0 : 128
        for c in 0..<l.channels {
            for i in 0..<hw {
                raw.storeBytes(of: UInt8(input[c * hw + i] + zp), toByteOffset: i * l.channels + c, as: UInt8.self)
            }
        }
    }

    /// Random input codes (0...255, or -127...127 for a signed layer) and weight codes within ±64 (the range
    /// oneDNN accumulates exactly without VNNI; larger codes are split by the plan, tested below).
    func randomLayer(_ l: Layer, seed: UInt64) -> (input: [Int32], codes: [Int8]) {
        var r = Random(state: seed)
        let input = (0..<(l.channels * l.size * l.size)).map { _ in Int32(l.unsigned ? r.int(0...255) : r.int(-127...127)) }
        let codes = (0..<(l.rows * l.channels / l.groups * l.kernel * l.kernel)).map { _ in Int8(r.int(-64...64)) }
        return (input, codes)
    }

    func testAccumulatorsEqualTheIntegerReferenceOnEveryLayerKind() throws {
        for (k, l) in Self.layers.enumerated() {
            var (input, codes) = randomLayer(l, seed: 0x9E37_79B9_7F4A_7C15 &+ UInt64(k))
            if l.name.hasPrefix("extreme") {
                // Every product at its largest: 255 · ±64, the worst case for s16 pair sums.
                input = input.map { _ in 255 }
                codes = codes.indices.map { $0 % 3 == 0 ? -64 : 64 }
            }
            let want = IntegerConvReference.accumulators(input: input, channels: l.channels, height: l.size,
                                                         width: l.size, codes: codes, rows: l.rows, kernel: l.kernel,
                                                         stride: l.stride, padding: l.padding, dilation: l.dilation,
                                                         groups: l.groups)
            XCTAssertLessThan(want.map { abs($0) }.max() ?? 0, 1 << 24, "accumulators exact in Float")
            for threads in [1, 2] {
                let (got, impl) = try run(l, input: input, codes: codes, scales: .init(repeating: 1, count: l.rows),
                                          bias: nil, activation: .identity, threads: threads)
                let bad = zip(got, want).filter { $0 != Float($1) }.count
                XCTAssertEqual(bad, 0, "\(l.name), \(threads) threads (\(impl)): \(bad) of \(want.count) differ")
                XCTAssertFalse(impl.hasPrefix("ref"), "\(l.name): oneDNN's slow reference kernel (\(impl))")
            }
        }
    }

    /// A u8 destination receives the reader's codes `clip(round(y / s), qmin, qmax)` of `y = act(scale · acc +
    /// bias)`: on an 8-bit grid and on a 4-bit one (clamped at 15), with ReLU6 and without activation.
    func testU8OutputHoldsTheReadersCodes() throws {
        for (l, activation) in [(Self.layers[0], Activation.relu6), (Self.layers[1], .identity)] {
            let (input, codes) = randomLayer(l, seed: 12)
            let scales = [Float](repeating: 1e-4, count: l.rows)
            let bias = (0..<l.rows).map { Float($0) * 0.01 }
            let (plain, _) = try run(l, input: input, codes: codes, scales: scales, bias: bias, activation: activation)
            for grid in [InputQuantization.Grid(scale: 6.0 / 255, qmin: 0, qmax: 255),
                         InputQuantization.Grid(scale: 0.1, qmin: 0, qmax: 15)] {
                let p = try OneDNNProgram(threads: 2)
                let x = try p.tensor(slot: 0, channels: l.channels, height: l.size, width: l.size, type: .u8)
                let o = (l.size + 2 * l.padding - l.dilation * (l.kernel - 1) - 1) / l.stride + 1
                let y = try p.tensor(slot: 1, channels: l.rows, height: o, width: o, type: .u8)
                let step = try p.int8Convolution(weight: codes, scales: scales, bias: bias,
                                                 sourceZeroPoint: l.unsigned ? 0 : 128, groups: l.groups,
                                                 kernel: l.kernel, stride: l.stride, padding: l.padding,
                                                 dilation: l.dilation, activation: activation, from: x, to: y,
                                                 outputGrid: (grid.scale, grid.qmin, grid.qmax), name: l.name)
                try p.finalize()
                try writeCodes(input, of: l, into: x, of: p)
                try p.execute(step)
                let out = try XCTUnwrap(p.bytes(y)).assumingMemoryBound(to: UInt8.self)
                // oneDNN divides the scale by s before the products are summed, the reference divides the sum: a
                // value within float rounding of a half-code boundary may round the other way (by one code).
                var off = 0, clamped = 0
                for r in 0..<l.rows {
                    for i in 0..<(o * o) {
                        let v = plain[r * o * o + i], want = grid.code(v), got = Int32(out[i * l.rows + r])
                        if got != want {
                            let t = Double(v) / Double(grid.scale)
                            let atBoundary = abs(abs(t - t.rounded(.down)) - 0.5) < 1e-4
                            XCTAssertTrue(abs(got - want) == 1 && atBoundary, "\(l.name): \(v) -> \(got), want \(want)")
                            off += 1
                        }
                        if want == Int32(grid.qmax) { clamped += 1 }
                    }
                }
                XCTAssertLessThanOrEqual(off, 2, "\(l.name), qmax \(grid.qmax): \(off) of \(l.rows * o * o) codes differ")
                if grid.qmax == 15 { XCTAssertGreaterThan(clamped, 0, "the 4-bit case reaches the clamp") }
            }
        }
    }

    /// The reader's fake quantization fused into the int8 conv: `s · clip(round(y / s), qmin, qmax)` of the output.
    func testOutputGridFakeQuantizesTheOutput() throws {
        for l in [Self.layers[0], Self.layers[1]] {
            let (input, codes) = randomLayer(l, seed: 11)
            let scales = [Float](repeating: 1e-4, count: l.rows)
            let bias = (0..<l.rows).map { Float($0) * 0.01 }
            let (plain, _) = try run(l, input: input, codes: codes, scales: scales, bias: bias, activation: .relu6)
            let grid = InputQuantization.Grid(scale: 6.0 / 255, qmin: 0, qmax: 255)
            let p = try OneDNNProgram(threads: 1)
            let x = try p.tensor(slot: 0, channels: l.channels, height: l.size, width: l.size, type: .u8)
            let o = (l.size + 2 * l.padding - l.dilation * (l.kernel - 1) - 1) / l.stride + 1
            let y = try p.tensor(slot: 1, channels: l.rows, height: o, width: o)
            let step = try p.int8Convolution(weight: codes, scales: scales, bias: bias,
                                             sourceZeroPoint: l.unsigned ? 0 : 128, groups: l.groups,
                                             kernel: l.kernel, stride: l.stride, padding: l.padding,
                                             dilation: l.dilation, activation: .relu6, from: x, to: y,
                                             outputGrid: (grid.scale, grid.qmin, grid.qmax), name: l.name)
            try p.finalize()
            try writeCodes(input, of: l, into: x, of: p)
            try p.execute(step)
            var got = [Float](repeating: 0, count: l.rows * o * o)
            nhwcToNCHW(try XCTUnwrap(p.data(y)), &got, channels: l.rows, pixels: o * o)
            var off = 0
            for i in got.indices where abs(got[i] - grid.apply(plain[i])) > 1e-6 { off += 1 }
            XCTAssertEqual(off, 0, "\(l.name): \(off) of \(got.count) differ; e.g. \(plain[0]) -> \(got[0]) want \(grid.apply(plain[0]))")
        }
    }

    func testScalesBiasAndActivationGiveActOfScaleTimesAccumulatorPlusBias() throws {
        for (k, l) in Self.layers.enumerated() {
            let (input, codes) = randomLayer(l, seed: 77 &+ UInt64(k))
            var r = Random(state: 5 &+ UInt64(k))
            let scales = (0..<l.rows).map { _ in Float(r.int(1...1000)) * 1e-6 }
            let bias = (0..<l.rows).map { _ in Float(r.int(-1000...1000)) * 1e-3 }
            let acc = IntegerConvReference.accumulators(input: input, channels: l.channels, height: l.size,
                                                        width: l.size, codes: codes, rows: l.rows, kernel: l.kernel,
                                                        stride: l.stride, padding: l.padding, dilation: l.dilation,
                                                        groups: l.groups)
            let pixels = acc.count / l.rows
            for activation in [Activation.identity, .relu, .relu6] {
                let (got, _) = try run(l, input: input, codes: codes, scales: scales, bias: bias, activation: activation)
                for i in acc.indices {
                    let c = i / pixels
                    var want = scales[c] * Float(acc[i]) + bias[c]
                    if activation == .relu { want = max(want, 0) }
                    if activation == .relu6 { want = min(max(want, 0), 6) }
                    // One rounding of the product and one of the sum (and bias / scale inside oneDNN): a few ulps.
                    XCTAssertEqual(got[i], want, accuracy: 1e-5 * max(1, abs(want)), "\(l.name) \(activation) #\(i)")
                }
            }
        }
    }
}

/// One quantized conv through the engine's real path (`OneDNNBuilder`: quantize step, int8 conv, row sum) against
/// a Double reference `act(Σ_{rows r of c} scales[r] · s_x · acc_r + bias[c])` built on the integer reference:
/// multipoint rows, 8-bit codes (split on CPUs without VNNI), uneven depthwise points, OCS input maps, signed
/// inputs, on 1 and 2 threads.
final class IntegerConvPlanTests: XCTestCase {
    struct Case {
        let name: String
        let channels, outputs, size, kernel, stride, padding, dilation, groups: Int
        let maxPoints: Int
        let bits: Int
        let unsigned: Bool
        let ocs: Bool
        let activation: Activation
    }

    static let cases: [Case] = [
        .init(name: "dense w4 multipoint u8 relu", channels: 12, outputs: 10, size: 9, kernel: 3, stride: 1, padding: 1,
              dilation: 1, groups: 1, maxPoints: 3, bits: 4, unsigned: true, ocs: false, activation: .relu),
        .init(name: "dense w8 one point signed", channels: 16, outputs: 8, size: 7, kernel: 1, stride: 1, padding: 0,
              dilation: 1, groups: 1, maxPoints: 1, bits: 8, unsigned: false, ocs: false, activation: .identity),
        .init(name: "dense w8 multipoint strided relu6", channels: 8, outputs: 6, size: 11, kernel: 3, stride: 2,
              padding: 1, dilation: 1, groups: 1, maxPoints: 2, bits: 8, unsigned: true, ocs: false, activation: .relu6),
        .init(name: "dilated w4 signed", channels: 8, outputs: 8, size: 19, kernel: 3, stride: 1, padding: 6,
              dilation: 6, groups: 1, maxPoints: 2, bits: 4, unsigned: false, ocs: false, activation: .relu),
        .init(name: "depthwise uneven points", channels: 24, outputs: 24, size: 10, kernel: 3, stride: 1, padding: 1,
              dilation: 1, groups: 24, maxPoints: 4, bits: 4, unsigned: true, ocs: false, activation: .relu6),
        .init(name: "depthwise w8 strided signed", channels: 16, outputs: 16, size: 10, kernel: 3, stride: 2,
              padding: 1, dilation: 1, groups: 16, maxPoints: 2, bits: 8, unsigned: false, ocs: false,
              activation: .identity),
        .init(name: "grouped uneven rows", channels: 16, outputs: 8, size: 8, kernel: 3, stride: 1, padding: 1,
              dilation: 1, groups: 2, maxPoints: 3, bits: 4, unsigned: true, ocs: false, activation: .identity),
        .init(name: "OCS dense multipoint", channels: 10, outputs: 12, size: 8, kernel: 3, stride: 1, padding: 1,
              dilation: 1, groups: 1, maxPoints: 2, bits: 4, unsigned: true, ocs: true, activation: .relu),
    ]

    func testEnginePathEqualsTheIntegerReference() throws {
        for (k, t) in Self.cases.enumerated() {
            var r = IntegerConvTests.Random(state: 0xC0FFEE &+ UInt64(k) &* 7919)
            let cpg = t.channels / t.groups, kk = t.kernel * t.kernel
            let map: [Int]? = t.ocs ? Array(0..<t.channels) + [2, 5, 7] : nil
            let rowLength = (map?.count ?? cpg) * kk
            let points = (0..<t.outputs).map { _ in r.int(1...t.maxPoints) }
            let rows = points.reduce(0, +), limit = (1 << (t.bits - 1)) - 1
            let codes = (0..<(rows * rowLength)).map { _ in Int8(r.int(-limit...limit)) }
            let scales = (0..<rows).map { _ in Float(r.int(1...100)) * 1e-3 }
            let bias = (0..<t.outputs).map { _ in Float(r.int(-100...100)) * 1e-2 }
            let grid = QuantizedConv.ActivationGrid(bits: 8, clip: 4, unsigned: t.unsigned)
            let q = QuantizedConv(name: "layer", bits: t.bits, weightShape: [t.outputs, cpg, t.kernel, t.kernel],
                                  pointCounts: points, scales: scales, codes: codes, bias: bias, inputChannelMap: map,
                                  activation: grid)
            // The input on the grid: x = s_x · code, so the quantize step recovers the codes.
            let hw = t.size * t.size
            let inputCodes = (0..<(t.channels * hw)).map { _ in Int32(t.unsigned ? r.int(0...255) : r.int(-127...127)) }
            let x = inputCodes.map { grid.scale * Float($0) }
            let unit = ConvUnit(name: "layer", foldedBatchNorm: nil, conv: Conv2D(
                weight: Tensor(shape: q.weightShape, data: q.reconstructedWeight), bias: bias, stride: t.stride,
                padding: t.padding, dilation: t.dilation, groups: t.groups, activation: t.activation))

            // Reference: per row, the gathered input codes the row reads, accumulated in Int32.
            let o = (t.size + 2 * t.padding - t.dilation * (t.kernel - 1) - 1) / t.stride + 1
            var want = [Double](repeating: 0, count: t.outputs * o * o)
            var row = 0
            for c in 0..<t.outputs {
                for _ in 0..<points[c] {
                    let source = map ?? Array((c / (t.outputs / t.groups)) * cpg..<((c / (t.outputs / t.groups)) + 1) * cpg)
                    let gathered = source.flatMap { inputCodes[($0 * hw)..<(($0 + 1) * hw)] }
                    let acc = IntegerConvReference.accumulators(
                        input: gathered, channels: source.count, height: t.size, width: t.size,
                        codes: Array(codes[(row * rowLength)..<((row + 1) * rowLength)]), rows: 1, kernel: t.kernel,
                        stride: t.stride, padding: t.padding, dilation: t.dilation, groups: 1)
                    for i in 0..<(o * o) { want[c * o * o + i] += Double(scales[row]) * Double(grid.scale) * Double(acc[i]) }
                    row += 1
                }
                for i in 0..<(o * o) {
                    var v = want[c * o * o + i] + Double(bias[c])
                    if t.activation == .relu { v = max(v, 0) }
                    if t.activation == .relu6 { v = min(max(v, 0), 6) }
                    want[c * o * o + i] = v
                }
            }
            for (threads, form) in [(1, MultipointForm.rows), (2, .rows), (1, .levels), (2, .levels)] {
                let quantization = InputQuantization(["layer": grid.grid]).integer([q], policy: .all, multipoint: form)
                let builder = try OneDNNBuilder(priors: 0, classes: 1, threads: threads, quantization: quantization,
                                                input: [1, t.channels, t.size, t.size], nchw: true)
                builder.current = try builder.conv(unit, builder.current, slot: 0)
                let compiled = try CompiledForward(revision: 0, stages: 0..<0, quantization: quantization,
                                                   builder: builder)
                XCTAssertTrue(compiled.labels.contains { $0.hasPrefix("quantize input of layer (u8") }, t.name)
                // Dense multipoint layers run as one conv per point level in the levels form, else as rows + sum.
                // Depthwise multipoint layers too (levels over the input as it is, no gather).
                // Without VNNI a layer with codes beyond ±64 has every row split in two (`IntegerConvPlan`), so
                // each of its channels has at least two rows, as if multipoint.
                let split = !OneDNNProgram.hasVNNI && codes.contains { abs(Int($0)) > 64 }
                let severalRows = points.contains { $0 > 1 } || split
                let levelled = (t.groups == 1 || t.groups == t.channels) && severalRows
                XCTAssertEqual(compiled.labels.contains { $0.hasSuffix("(point 2)") }, levelled && form == .levels,
                               "\(t.name) \(form): \(compiled.labels)")
                XCTAssertEqual(compiled.labels.contains { $0.hasPrefix("sum rows of layer") },
                               severalRows && !(levelled && form == .levels), "\(t.name) \(form)")
                // A grouped (not depthwise) conv with uneven rows per group runs oneDNN's reference int8 kernel: exact
                // but slow; none of the four networks has such a layer.
                if t.groups == 1 || t.groups == t.channels {
                    XCTAssertFalse(compiled.implementations.contains { $0.hasPrefix("ref") }, "\(t.name): \(compiled.implementations)")
                }
                var out = HeadOutputs(priors: 0, classes: 1)
                var nhwc = [Float](repeating: 0, count: t.outputs * o * o)
                try x.withUnsafeBufferPointer { input in
                    try nhwc.withUnsafeMutableBufferPointer { y in
                        try compiled.run(input.baseAddress!, into: &out, exposing: y.baseAddress!)
                    }
                }
                var got = [Float](repeating: 0, count: nhwc.count)
                nhwcToNCHW(nhwc, &got, channels: t.outputs, pixels: o * o)
                let worst = zip(got, want).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? 1
                XCTAssertLessThan(worst, 1e-5, "\(t.name), \(threads) threads, \(form)")
            }
        }
    }

    /// A pointwise conv whose only reader is a depthwise conv, both one point per channel, unsigned grids: the
    /// pointwise conv writes the depthwise conv's u8 codes (no quantize step, no float round trip) and the depthwise
    /// conv runs as an integer conv although the measured policy keeps depthwise float otherwise. Its output equals
    /// the unchained program's (float output, quantize step) up to codes that land on the other side of a rounding
    /// boundary (different float order): at most a few in a thousand, each moving an output by one code's worth.
    func testPointwiseWritesItsDepthwiseReadersCodes() throws {
        var r = IntegerConvTests.Random(state: 0xDEC0DE)
        let c = 16, o = 32, size = 10
        func quantized(_ name: String, shape: [Int], clip: Float) -> QuantizedConv {
            let length = shape[1] * shape[2] * shape[3]
            return QuantizedConv(name: name, bits: 4, weightShape: shape, pointCounts: [Int](repeating: 1, count: shape[0]),
                                 scales: (0..<shape[0]).map { _ in Float(r.int(1...100)) * 1e-3 },
                                 codes: (0..<(shape[0] * length)).map { _ in Int8(r.int(-7...7)) },
                                 bias: (0..<shape[0]).map { _ in Float(r.int(-100...100)) * 1e-2 }, inputChannelMap: nil,
                                 activation: QuantizedConv.ActivationGrid(bits: 8, clip: clip, unsigned: true))
        }
        let pw = quantized("pw", shape: [o, c, 1, 1], clip: 4), dw = quantized("dw", shape: [o, 1, 3, 3], clip: 6)
        func unit(_ q: QuantizedConv, groups: Int, padding: Int) -> ConvUnit {
            ConvUnit(name: q.name, foldedBatchNorm: nil, conv: Conv2D(
                weight: Tensor(shape: q.weightShape, data: q.reconstructedWeight), bias: q.bias, stride: 1,
                padding: padding, dilation: 1, groups: groups, activation: .relu6))
        }
        let a = unit(pw, groups: 1, padding: 0), b = unit(dw, groups: o, padding: 1)
        let x = (0..<(c * size * size)).map { _ in pw.activation!.scale * Float(r.int(0...255)) }
        var outputs: [[Float]] = []
        for chained in [true, false] {
            let quantization = InputQuantization(["pw": pw.activation!.grid, "dw": dw.activation!.grid])
                .integer([pw, dw], policy: .measured)
            let builder = try OneDNNBuilder(priors: 0, classes: 1, threads: 2, quantization: quantization,
                                            input: [1, c, size, size], nchw: true)
            let hidden = try builder.conv(a, builder.current, slot: 0, onlyReader: chained ? b : nil)
            builder.current = try builder.conv(b, hidden, slot: 1)
            let compiled = try CompiledForward(revision: 0, stages: 0..<0, quantization: quantization, builder: builder)
            XCTAssertEqual(compiled.labels.contains("pw (writes its reader's u8 codes)"), chained, "\(compiled.labels)")
            XCTAssertEqual(compiled.labels.contains { $0.hasPrefix("quantize input of dw") }, !chained)
            XCTAssertEqual(compiled.implementations.last?.contains("int8") ?? false || compiled.implementations.last?
                .contains("vnni") ?? false || !chained, true, "\(compiled.implementations)")
            var out = HeadOutputs(priors: 0, classes: 1)
            var nhwc = [Float](repeating: 0, count: o * size * size)
            try x.withUnsafeBufferPointer { input in
                try nhwc.withUnsafeMutableBufferPointer { y in
                    try compiled.run(input.baseAddress!, into: &out, exposing: y.baseAddress!)
                }
            }
            outputs.append(nhwc)
        }
        let step = (dw.scales.max() ?? 0) * 7 * dw.activation!.scale
        let moved = zip(outputs[0], outputs[1]).filter { abs($0 - $1) > 1e-5 }
        XCTAssertLessThanOrEqual(moved.count, outputs[0].count / 200, "\(moved.count) of \(outputs[0].count) moved")
        XCTAssertLessThanOrEqual(moved.map { abs($0 - $1) }.max() ?? 0, 2 * step * 1.0001)
        XCTAssertGreaterThan(outputs[0].filter { $0 > 0 }.count, outputs[0].count / 4, "a non-trivial output")
    }

    /// The per-layer choice of `MultipointForm.auto`, hand-computed from `prefersLevels`'s formula
    /// `(l·o − r)·k < 8·beta·(r − (l − 1)·o)`, beta 24 with VNNI and 8 without.
    func testAutoPicksLevelsOnlyWhereRowsCostMoreMemoryThanLevelsCostMACs() {
        // vgg16-ssd's first conv, 114 rows of 64 channels over 3·3·3 inputs: (128 − 114)·27 = 378 < 8·24·50 = 9600.
        XCTAssertTrue(IntegerConvPlan.prefersLevels(outputs: 64, rows: 114, levels: 2, rowLength: 27, vnni: true))
        XCTAssertTrue(IntegerConvPlan.prefersLevels(outputs: 64, rows: 114, levels: 2, rowLength: 27, vnni: false))
        // A deep 3x3 conv with 117 of 512 channels doubled: 395·4608 ≫ 8·24·117.
        XCTAssertFalse(IntegerConvPlan.prefersLevels(outputs: 512, rows: 629, levels: 2, rowLength: 4608, vnni: true))
        // A 1x1 expansion with 16 of 192 channels doubled: (384 − 208)·32 = 5632 > 8·24·16 = 3072.
        XCTAssertFalse(IntegerConvPlan.prefersLevels(outputs: 192, rows: 208, levels: 2, rowLength: 32, vnni: true))
        // One point everywhere: nothing to choose. Three levels for one channel of 64: 128 + 64 − 66 rows of MACs.
        XCTAssertFalse(IntegerConvPlan.prefersLevels(outputs: 64, rows: 64, levels: 1, rowLength: 27, vnni: true))
        XCTAssertFalse(IntegerConvPlan.prefersLevels(outputs: 64, rows: 66, levels: 3, rowLength: 27, vnni: true))
    }

    /// Without VNNI an 8-bit layer is split into halves within ±64; with VNNI (or 4-bit codes) it is not.
    func testEightBitCodesAreSplitOnlyWithoutVNNI() throws {
        let q = QuantizedConv(name: "l", bits: 8, weightShape: [2, 1, 1, 1], pointCounts: [1, 1], scales: [1, 1],
                              codes: [127, -127], bias: [0, 0], inputChannelMap: nil,
                              activation: .init(bits: 8, clip: 1, unsigned: true))
        let unit = ConvUnit(name: "l", foldedBatchNorm: nil, conv: Conv2D(weight: Tensor(shape: [2, 1, 1, 1],
                                                                                       data: [1, 1]), bias: [0, 0]))
        let split = try IntegerConvPlan(unit: unit, conv: q, activation: q.activation!, vnni: false)
        XCTAssertTrue(split.splitForSaturation)
        // Point-major: the first half of each channel, then the second halves.
        XCTAssertEqual(split.weights, [63, -63, 64, -64])
        XCTAssertEqual(split.rowChannel, [0, 1, 0, 1])
        XCTAssertFalse(split.fused)
        let whole = try IntegerConvPlan(unit: unit, conv: q, activation: q.activation!, vnni: true)
        XCTAssertFalse(whole.splitForSaturation)
        XCTAssertEqual(whole.weights, [127, -127])
        XCTAssertTrue(whole.fused)
    }

    /// The quantize step's u8 codes equal `code(x) + zeroPoint` of the scalar grid on ties, extremes and random values.
    func testQuantizeStepCodesEqualTheScalarGrid() throws {
        var r = IntegerConvTests.Random(state: 99)
        for (bits, unsigned) in [(8, true), (8, false), (4, true), (4, false)] {
            let a = QuantizedConv.ActivationGrid(bits: bits, clip: 3.7, unsigned: unsigned)
            let g = a.grid
            var x: [Float] = (0..<500).map { _ in Float(r.int(-20_000...20_000)) / 1000 }
            x += (-300...300).map { (Float($0) + 0.5) * g.scale }
            x += [0, -0.0, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0.5, -0.5]
            let q = QuantizedConv(name: "l", bits: 4, weightShape: [1, 1, 1, 1], pointCounts: [1], scales: [1],
                                  codes: [1], bias: [0], inputChannelMap: nil, activation: a)
            let unit = ConvUnit(name: "l", foldedBatchNorm: nil, conv: Conv2D(weight: Tensor(shape: [1, 1, 1, 1],
                                                                                           data: [1]), bias: [0]))
            let plan = try IntegerConvPlan(unit: unit, conv: q, activation: a)
            var y = [UInt8](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBytes { yb in plan.quantize(xb.baseAddress!, yb.baseAddress!, channels: 1, pixels: x.count) }
            }
            for i in x.indices {
                XCTAssertEqual(Int(y[i]), Int(g.code(x[i])) + plan.zeroPoint, "bits \(bits) unsigned \(unsigned) x = \(x[i])")
            }
        }
    }
}
