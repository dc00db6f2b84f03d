import XCTest
@testable import Tensors

/// The Winograd F(2x2, 3x3) convs of `OneDNNProgram` (our AVX2 kernels, mpq_winograd.c) against a brute-force
/// double-precision conv, over the shapes its blocking treats differently; thread independence; which convs it
/// takes and which it leaves to oneDNN.
final class WinogradTests: XCTestCase {
    static let implementation = "mpq:winograd_2x2_3x3:avx2"

    /// NHWC `[h, w, c]` of an NCHW `[1, c, h, w]` tensor.
    private func nhwc(_ x: Tensor) -> [Float] {
        let c = x.shape[1], hw = x.shape[2] * x.shape[3]
        var y = [Float](repeating: 0, count: x.count)
        for ch in 0..<c { for p in 0..<hw { y[p * c + ch] = x.data[ch * hw + p] } }
        return y
    }

    /// The exact (double) conv, NHWC, and per output the sum of |products| + |bias|, the scale of float error.
    private func oracle(_ x: [Float], _ conv: Conv2D, h: Int, w: Int) -> (values: [Double], mass: [Double]) {
        let ic = conv.inChannels, oc = conv.outChannels
        var values = [Double](repeating: 0, count: h * w * oc), mass = values
        for y in 0..<h { for xx in 0..<w { for o in 0..<oc {
            let b = Double(conv.bias?[o] ?? 0)
            var s = b, m = abs(b)
            for ky in 0..<3 { for kx in 0..<3 {
                let iy = y + ky - 1, ix = xx + kx - 1
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                for k in 0..<ic {
                    let p = Double(x[(iy * w + ix) * ic + k]) * Double(conv.weight.data[((o * ic + k) * 3 + ky) * 3 + kx])
                    s += p
                    m += abs(p)
                }
            } }
            switch conv.activation {
            case .identity: break
            case .relu: s = max(s, 0)
            case .relu6: s = min(max(s, 0), 6)
            }
            values[(y * w + xx) * oc + o] = s
            mass[(y * w + xx) * oc + o] = m
        } } }
        return (values, mass)
    }

    /// Runs `conv` on `x` (NHWC `[h, w, ic]`) in a one-conv program; returns the output and the implementation.
    private func run(_ conv: Conv2D, _ x: [Float], h: Int, w: Int, threads: Int, winograd: Bool) throws
        -> (output: [Float], implementation: String) {
        let program = try OneDNNProgram(threads: threads, winograd: winograd)
        let input = try program.tensor(slot: 0, channels: conv.inChannels, height: h, width: w)
        let output = try program.output(of: conv, for: input, slot: 1)
        let step = try program.convolution(conv, from: input, to: output, name: "c")
        try program.finalize()
        program.data(input)!.update(from: x, count: x.count)
        try program.execute(step)
        let n = output.channels * output.height * output.width
        return (Array(UnsafeBufferPointer(start: program.data(output)!, count: n)), program.implementation(step))
    }

    func testWinogradMatchesTheExactConvOnEveryBlockingCase() throws {
        try XCTSkipUnless(OneDNNProgram.winogradSupported,
                          "this CPU has no AVX2 + FMA: the Winograd kernels are never used on it")
        var rng = SeededGenerator(seed: 2026)
        // (ic, oc, h, w, activation, bias): single pixel; odd sizes (partial tiles at the right and bottom); output
        // channels not a multiple of 8 or 16 (a head's 84 = 4 x 21 classes); one 6-tile group split over several
        // 16-channel panel ranges; many blocks of 24 tiles; ic + oc > 512 (blocks of about 96 tiles, k in two
        // 256-deep passes); no bias.
        let cases: [(Int, Int, Int, Int, Activation, Bool)] = [
            (8, 8, 1, 1, .relu, true), (8, 5, 2, 3, .identity, true), (16, 16, 7, 9, .relu6, true),
            (24, 40, 13, 11, .relu, false), (64, 84, 10, 10, .identity, true), (64, 48, 8, 8, .relu, true),
            (16, 16, 30, 31, .relu, true), (520, 24, 5, 5, .identity, true), (256, 512, 6, 7, .relu, true),
        ]
        var worstRatio = 0.0
        for (ic, oc, h, w, activation, hasBias) in cases {
            let conv = Conv2D(weight: randomTensor([oc, ic, 3, 3], &rng, scale: 0.2),
                              bias: hasBias ? (0..<oc).map { _ in Float.random(in: -1...1, using: &rng) } : nil,
                              padding: 1, activation: activation)
            let x = nhwc(randomTensor([1, ic, h, w], &rng))
            let (got, implementation) = try run(conv, x, h: h, w: w, threads: 2, winograd: true)
            let name = "\(ic)->\(oc) @\(h)x\(w)"
            XCTAssertEqual(implementation, Self.implementation, name)
            let (want, mass) = oracle(x, conv, h: h, w: w)
            XCTAssertEqual(got.count, want.count, name)
            for i in want.indices {
                let ratio = abs(Double(got[i]) - want[i]) / max(mass[i], 1e-30)
                worstRatio = max(worstRatio, ratio)
                // Float rounding of sums of this mass: the transforms add at most 4 inputs and scale weights by up
                // to 2.25, so a few float epsilons (6e-8) per unit of mass; measured below 3e-7.
                XCTAssertLessThanOrEqual(ratio, 2e-6, "\(name) element \(i): \(got[i]) vs \(want[i])")
            }
            // oneDNN's direct conv of the same layer agrees as closely (both are float roundings of the same sum).
            let (direct, directImplementation) = try run(conv, x, h: h, w: w, threads: 1, winograd: false)
            XCTAssertNotEqual(directImplementation, Self.implementation, name)
            for i in want.indices {
                XCTAssertLessThanOrEqual(abs(Double(got[i]) - Double(direct[i])), 4e-6 * mass[i] + 1e-30, name)
            }
        }
        print(String(format: "winograd: worst |error| / mass %.2e", worstRatio))
    }

    /// Blocks are fixed by the shape and every output's arithmetic by its block: 1, 2 and 3 threads give the same
    /// bits (also where a layer's few blocks are split by output panels).
    func testOutputsDoNotDependOnTheThreadCount() throws {
        try XCTSkipUnless(OneDNNProgram.winogradSupported, "this CPU has no AVX2 + FMA")
        var rng = SeededGenerator(seed: 5)
        for (ic, oc, h, w) in [(64, 48, 8, 8), (32, 64, 37, 38), (512, 96, 5, 5)] {
            let conv = Conv2D(weight: randomTensor([oc, ic, 3, 3], &rng, scale: 0.1), bias: [Float](repeating: 0.5, count: oc),
                              padding: 1, activation: .relu)
            let x = nhwc(randomTensor([1, ic, h, w], &rng))
            let one = try run(conv, x, h: h, w: w, threads: 1, winograd: true).output
            for threads in [2, 3] {
                XCTAssertEqual(try run(conv, x, h: h, w: w, threads: threads, winograd: true).output, one,
                               "\(ic)->\(oc) @\(h)x\(w), \(threads) threads")
            }
        }
    }

    /// Only 3x3, stride 1, padding 1, ungrouped, undilated convs over a multiple of 8 input channels without a
    /// residual add run as Winograd; everything else stays on oneDNN, and `winograd: false` turns it off.
    func testOnlyEligibleConvsRunAsWinograd() throws {
        try XCTSkipUnless(OneDNNProgram.winogradSupported, "this CPU has no AVX2 + FMA")
        var rng = SeededGenerator(seed: 9)
        func implementation(_ conv: Conv2D, ic: Int, winograd: Bool = true) throws -> String {
            try run(conv, nhwc(randomTensor([1, ic, 9, 9], &rng)), h: 9, w: 9, threads: 1, winograd: winograd)
                .implementation
        }
        let eligible = Conv2D(weight: randomTensor([16, 16, 3, 3], &rng), bias: nil, padding: 1)
        XCTAssertEqual(try implementation(eligible, ic: 16), Self.implementation)
        XCTAssertNotEqual(try implementation(eligible, ic: 16, winograd: false), Self.implementation)
        let others: [(String, Conv2D, Int)] = [
            ("stride 2", Conv2D(weight: randomTensor([16, 16, 3, 3], &rng), bias: nil, stride: 2, padding: 1), 16),
            ("dilated", Conv2D(weight: randomTensor([16, 16, 3, 3], &rng), bias: nil, padding: 2, dilation: 2), 16),
            ("padding 0", Conv2D(weight: randomTensor([16, 16, 3, 3], &rng), bias: nil), 16),
            ("depthwise", Conv2D(weight: randomTensor([16, 1, 3, 3], &rng), bias: nil, padding: 1, groups: 16), 16),
            ("3 input channels", Conv2D(weight: randomTensor([16, 3, 3, 3], &rng), bias: nil, padding: 1), 3),
            ("12 input channels", Conv2D(weight: randomTensor([16, 12, 3, 3], &rng), bias: nil, padding: 1), 12),
            ("1x1", Conv2D(weight: randomTensor([16, 16, 1, 1], &rng), bias: nil), 16),
        ]
        for (name, conv, ic) in others {
            XCTAssertNotEqual(try implementation(conv, ic: ic), Self.implementation, name)
        }
        // A residual add (y <- conv(x) + y) stays on oneDNN too.
        let program = try OneDNNProgram(threads: 1, winograd: true)
        let x = try program.tensor(slot: 0, channels: 16, height: 9, width: 9)
        let y = try program.tensor(slot: 1, channels: 16, height: 9, width: 9)
        let step = try program.convolution(eligible, from: x, to: y, accumulate: true, name: "residual")
        XCTAssertNotEqual(program.implementation(step), Self.implementation)
    }
}
