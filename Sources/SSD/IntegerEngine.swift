import CDNNL
import Foundation
import Tensors

/// The integer weights of a quantized model, for the int8 engine: each quantized conv with a quantized input runs
/// as a oneDNN int8 convolution over its codes (see `IntegerConvPlan`). Compared by identity (a program compiled
/// for one set of weights is reused only for that set).
public final class IntegerConvolutions: @unchecked Sendable, Equatable {
    public let convs: [String: QuantizedConv]
    /// Which layer kinds run as integers; the others run as the simulated float conv (same quantized model).
    public let policy: IntegerPolicy

    /// Layers with codes beyond ±64 (8-bit weights): exact without VNNI only when split (see `IntegerConvPlan`).
    public let wide: Set<String>

    /// How layers with several points per channel run (see `MultipointForm`).
    public let multipoint: MultipointForm

    public init(_ convs: [QuantizedConv], policy: IntegerPolicy = .default, multipoint: MultipointForm = .default) {
        self.convs = Dictionary(convs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.policy = policy
        self.multipoint = multipoint
        wide = Set(convs.filter { $0.codes.contains { abs(Int($0)) > 64 } }.map(\.name))
    }

    /// Whether `unit` runs as an integer conv under the policy on this CPU.
    func runsAsInteger(_ unit: ConvUnit) -> Bool {
        switch policy {
        case .all: return true
        case .measured:
            if !OneDNNProgram.hasVNNI && wide.contains(unit.name) { return false }
            return !(unit.conv.groups > 1 && unit.conv.groups == unit.conv.outChannels
                     && unit.conv.groups == unit.conv.inChannels)
        }
    }

    public static func == (a: IntegerConvolutions, b: IntegerConvolutions) -> Bool { a === b }
}

/// Which quantized convs the int8 engine runs as integer convolutions.
public enum IntegerPolicy: String, Sendable, CaseIterable {
    /// Every quantized conv with a quantized input (the exactness tests use it).
    case all
    /// Dense and grouped convs as integers; depthwise convs as float convs over the reconstructed weights on the
    /// fake-quantized input, because oneDNN 2.6's int8 depthwise kernel is slower than its float one on the CPUs
    /// measured (AVX2 Zen 3); and on CPUs without VNNI, layers with 8-bit codes as float too (their exact integer
    /// form needs twice the MACs there). Same numbers, up to float rounding; see docs/performance.md.
    case measured

    /// `MPQ_INT8_LAYERS=all|measured` when set (for measurements), else `measured`.
    public static let `default`: IntegerPolicy = {
        ProcessInfo.processInfo.environment["MPQ_INT8_LAYERS"].flatMap(IntegerPolicy.init(rawValue:)) ?? .measured
    }()
}

/// How a dense or depthwise conv with several points per channel (R = Σ n_c rows for O channels) runs on the int8
/// engine.
public enum MultipointForm: String, Sendable, CaseIterable {
    /// One int8 conv over all R rows into a rows tensor, then a pass that sums each channel's rows and adds the bias,
    /// the residual and the activation (and its float reader's fake quantization). Costs R rows of MACs and the
    /// rows' round trip through memory.
    case rows
    /// One int8 conv per point level k = 1…L (L = the most points of a channel), each over all O channels (a
    /// channel without a k-th point has a zero row): levels L…2 write and accumulate the output, level 1 adds
    /// itself, the bias and the activation in oneDNN's post-ops (sum post-op), the reader's fake quantization
    /// included. Costs L·O rows of MACs but no separate pass: cheaper where the MACs per row are few (a first
    /// layer over 3 input channels) and most channels have a second point.
    case levels
    /// Per layer: depthwise convs as levels, dense ones by the smaller estimated cost
    /// (`IntegerConvPlan.prefersLevels`).
    case auto

    /// `MPQ_INT8_MULTIPOINT=rows|levels|auto` when set (for measurements), else `auto`.
    public static let `default`: MultipointForm = {
        ProcessInfo.processInfo.environment["MPQ_INT8_MULTIPOINT"].flatMap(MultipointForm.init(rawValue:)) ?? .auto
    }()
}

extension InputQuantization {
    /// The same quantized model run by the int8 engine: `integer` set (the native engine and layers kept float
    /// ignore it; they run the fake quantization as before).
    public func integer(_ convs: [QuantizedConv], policy: IntegerPolicy = .default,
                        multipoint: MultipointForm = .default) -> InputQuantization {
        var q = self
        q.integer = IntegerConvolutions(convs, policy: policy, multipoint: multipoint)
        return q
    }
}

/// How one quantized conv runs as an integer conv, precomputed once per program.
///
/// Source codes are u8: a non-negative input's codes as they are, a signed input's codes plus 128 with oneDNN's
/// source zero point 128 (padding included), because oneDNN's s8-source kernels on CPUs without VNNI halve the
/// weights (inexact for odd codes). A channel with `n_c` points is `n_c` rows of one conv with `R = Σ n_c` output
/// channels: the conv's output scales are `scales[r] · s_x` (row scale times input scale), and a row-sum step adds
/// the rows of each channel, the bias, the residual and the activation. When every channel has one point the
/// conv's own output is the result (bias, activation and residual add fused as oneDNN post-ops).
///
/// Exactness without VNNI: oneDNN adds pairs of u8·s8 products in s16 with saturation, exact while
/// `2 · 255 · |w| <= 32767`, i.e. `|w| <= 64`. A layer with larger codes (8-bit weights) has each row split into
/// two rows of the same scale, `q = ⌊q/2⌉₀ + (q − ⌊q/2⌉₀)` (both halves within ±64): exact, at twice the MACs.
///
/// Depthwise: each row becomes its own group reading a copy of its channel (the quantize step gathers channel
/// `c` `n_c` times), so uneven points per channel stay a plain depthwise conv. Other grouped convs with uneven
/// rows per group get zero rows (scale 0). OCS: the quantize step writes expanded channel `t` from input channel
/// `map[t]`.
struct IntegerConvPlan {
    let name: String
    /// The grid of the input (`code = clamp(round(x / s), qmin, qmax)`).
    let grid: InputQuantization.Grid
    /// 0 for a non-negative input, 128 for a signed one.
    let zeroPoint: Int
    /// Input channel of each channel the conv reads (OCS, depthwise rows), or nil.
    let gather: [Int]?
    private let gather32: [Int32]?
    let groups: Int
    /// `[R', C'/groups, kh, kw]` s8 codes (the rows form's conv: `paddedRows` rows).
    var weights: [Int8]
    /// `scales[r] · s_x` per row (0 for padding rows).
    var rowScales: [Float]
    /// The rows form of a point-major plan: the rows conv's row count, the `R` rows rounded up (zero rows at the
    /// end); nil otherwise.
    let paddedRows: Int?
    /// Output channel of each row, or -1 for a padding row.
    let rowChannel: [Int]
    let bias: [Float]
    /// Point-major rows (dense and depthwise convs): rows `0..<O` are one row of each channel in order, row `O + j`
    /// adds to channel `extraChannel[j]`; nil for a padded grouped conv (then `rowFirst`/`rowCount`).
    let extraChannel: [Int32]?
    /// Channel c's rows are `rowFirst[c] ..< rowFirst[c] + rowCount[c]` (padding rows sit at group ends).
    let rowFirst: [Int]
    let rowCount: [Int]
    /// Whether rows were split in halves for a CPU without VNNI.
    let splitForSaturation: Bool
    /// One row per channel, in order, nonzero scales: the conv's output is the layer's output.
    let fused: Bool
    /// `MultipointForm.levels` (dense, or depthwise with `groups == O`): per point level, `[O, C'/groups, kh, kw]`
    /// codes (zero rows where a channel has fewer points) and their scales (0 there); level 0 holds each channel's
    /// first row. Nil: the rows form.
    let levels: [(weights: [Int8], scales: [Float])]?

    /// Whether the levels form is estimated cheaper than the rows form for a dense conv of `o` channels, `r` rows,
    /// at most `l` points per channel and `k` MACs per output value: levels cost `l·o·k` MACs per pixel and
    /// `(l − 1)` round trips of `o` floats (8 bytes each); rows cost `r·k` MACs and a round trip of `r` floats
    /// (write, then the sum pass reads). A byte is counted as `beta` MACs: 24 with VNNI (one core's int8 MAC rate
    /// over its memory bandwidth, measured on Zen 5: ~490 GMAC/s in vgg16-ssd's convs, ~20 GB/s), 8 without.
    static func prefersLevels(outputs o: Int, rows r: Int, levels l: Int, rowLength k: Int, vnni: Bool) -> Bool {
        guard l > 1 else { return false }
        let beta = vnni ? 24.0 : 8.0
        return Double(l * o - r) * Double(k) < 8 * beta * Double(r - (l - 1) * o)
    }

    init(unit: ConvUnit, conv q: QuantizedConv, activation a: QuantizedConv.ActivationGrid,
         vnni: Bool = OneDNNProgram.hasVNNI, multipoint: MultipointForm = .auto) throws {
        let g = unit.conv.groups, o = q.outputChannels
        guard q.weightShape == [o, unit.conv.inChannels / g, unit.conv.kernelH, unit.conv.kernelW],
              o == unit.conv.outChannels, q.bias.count == o else {
            throw OneDNNError(description: "int8 conv \(q.name): codes of shape \(q.weightShape) do not fit the layer")
        }
        name = q.name
        grid = a.grid
        zeroPoint = a.isUnsigned ? 0 : 128
        bias = q.bias
        let length = q.rowLength
        var codes = q.codes, scales = q.scales.map { $0 * a.scale }, channel = q.channelOfRow
        splitForSaturation = !vnni && codes.contains { abs(Int($0)) > 64 }
        if splitForSaturation {
            var c2 = [Int8](), s2 = [Float](), ch2 = [Int]()
            c2.reserveCapacity(2 * codes.count)
            for r in 0..<scales.count {
                let row = codes[(r * length)..<((r + 1) * length)]
                c2.append(contentsOf: row.map { $0 / 2 })
                c2.append(contentsOf: row.map { $0 - $0 / 2 })
                s2 += [scales[r], scales[r]]
                ch2 += [channel[r], channel[r]]
            }
            (codes, scales, channel) = (c2, s2, ch2)
        }
        let depthwise = g > 1 && g == o && g == unit.conv.inChannels
        if g == 1 || depthwise {
            // Point-major order: each channel's first row, then the other rows in their order.
            var firstOf = [Int](repeating: -1, count: o), extras: [Int] = []
            for (r, c) in channel.enumerated() {
                if firstOf[c] < 0 { firstOf[c] = r } else { extras.append(r) }
            }
            let order = firstOf + extras
            codes = order.flatMap { codes[($0 * length)..<(($0 + 1) * length)] }
            scales = order.map { scales[$0] }
            channel = order.map { channel[$0] }
            extraChannel = channel[o...].map { Int32($0) }
        } else {
            extraChannel = nil
        }
        if g == 1 {
            gather = q.inputChannelMap
            groups = 1
        } else if q.inputChannelMap != nil {
            throw OneDNNError(description: "int8 conv \(q.name): a grouped conv with split input channels")
        } else if depthwise, multipoint != .rows, channel.count > o {
            // Uneven points as levels: one depthwise conv per point level over the input as it is.
            gather = nil
            groups = o
        } else if depthwise {
            // One row per channel reads the input as it is; more rows read copies of their channel.
            gather = channel == Array(0..<unit.conv.inChannels) ? nil : channel
            groups = channel.count
        } else {
            // Pad each group to the same row count.
            let perGroup = o / g
            var groupRows = [[Int]](repeating: [], count: g)
            for (r, c) in channel.enumerated() { groupRows[c / perGroup].append(r) }
            let width = groupRows.map(\.count).max() ?? 0
            var w = [Int8](repeating: 0, count: g * width * length)
            var s = [Float](repeating: 0, count: g * width), ch = [Int](repeating: -1, count: g * width)
            for group in 0..<g {
                for (j, r) in groupRows[group].enumerated() {
                    let dst = group * width + j
                    for i in 0..<length { w[dst * length + i] = codes[r * length + i] }
                    s[dst] = scales[r]
                    ch[dst] = channel[r]
                }
            }
            (codes, scales, channel) = (w, s, ch)
            gather = nil
            groups = g
        }
        gather32 = gather.map { $0.map(Int32.init) }
        rowChannel = channel
        var first = [Int](repeating: 0, count: o), count = [Int](repeating: 0, count: o)
        for (i, c) in channel.enumerated().reversed() where c >= 0 {
            first[c] = i
            count[c] += 1
        }
        rowFirst = first
        rowCount = count
        let fused = channel == Array(0..<o) && scales.allSatisfy { $0 != 0 } && (groups == g)
        self.fused = fused
        weights = codes
        rowScales = scales
        let most = count.max() ?? 1
        let useLevels: Bool
        switch multipoint {
        case .rows: useLevels = false
        case .levels: useLevels = most > 1
        case .auto:
            // Depthwise: always levels (the rows form gathers a copy of the input per extra row, measured 6.6x
            // slower on mb2-ssd-lite).
            useLevels = depthwise ? most > 1
                : Self.prefersLevels(outputs: o, rows: channel.count, levels: most, rowLength: length, vnni: vnni)
        }
        if g == 1 || (depthwise && groups == o), !fused, useLevels {
            var seen = [Int](repeating: 0, count: o)
            var lw = [[Int8]](repeating: [Int8](repeating: 0, count: o * length), count: most)
            var ls = [[Float]](repeating: [Float](repeating: 0, count: o), count: most)
            for (r, c) in channel.enumerated() where c >= 0 {
                let k = seen[c]
                seen[c] += 1
                for i in 0..<length { lw[k][c * length + i] = codes[r * length + i] }
                ls[k][c] = scales[r]
            }
            levels = (0..<most).map { (lw[$0], ls[$0]) }
            paddedRows = nil
        } else {
            levels = nil
            // oneDNN's brgconv runs a row count that is not a multiple of 16 slower than the next multiple (measured
            // on Zen 5: 131 rows of a 3x3 conv 3.87 ms, 144 rows 3.55 ms): zero rows (scale 0) round it up; the
            // sum pass skips them.
            if g == 1, !fused, extraChannel != nil {
                let rounded = (channel.count + 15) / 16 * 16
                weights = codes + [Int8](repeating: 0, count: (rounded - channel.count) * length)
                rowScales = scales + [Float](repeating: 0, count: rounded - channel.count)
                paddedRows = rounded
            } else {
                paddedRows = extraChannel == nil ? nil : channel.count
            }
        }
    }

    /// u8 codes of the float NHWC input into `y` (`code + zeroPoint`; the rounding of
    /// `InputQuantization.Grid.apply`), gathered when the plan reads other channels than the input's.
    func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, channels c: Int, pixels: Int) {
        let out = y.assumingMemoryBound(to: UInt8.self)
        if let gather32 {
            gather32.withUnsafeBufferPointer { map in
                mpq_quantize_gather_u8(x, out, pixels, Int32(c), map.baseAddress, Int32(map.count), grid.scale,
                                       grid.qmin, grid.qmax, Int32(zeroPoint))
            }
        } else {
            mpq_quantize_u8(x, out, c * pixels, grid.scale, grid.qmin, grid.qmax, Int32(zeroPoint))
        }
    }

    /// Whether the row sum can write its reader's u8 codes (`sumRowsToCodes`): the point-major rows form.
    var sumWritesCodes: Bool { extraChannel != nil && paddedRows != nil && levels == nil && bias.count <= 4096 }

    /// The row sum (no accumulation) as its int8 reader's codes on `grid` (unsigned).
    func sumRowsToCodes(_ rows: UnsafePointer<Float>, _ codes: UnsafeMutableRawPointer, pixels: Int,
                        activation: Activation, grid: InputQuantization.Grid) {
        guard let extraChannel, let stride = paddedRows else { return }
        let act: Int32
        switch activation {
        case .identity: act = Int32(MPQ_DNNL_IDENTITY)
        case .relu: act = Int32(MPQ_DNNL_RELU)
        case .relu6: act = Int32(MPQ_DNNL_RELU6)
        }
        extraChannel.withUnsafeBufferPointer { extra in
            bias.withUnsafeBufferPointer { b in
                mpq_sum_rows_codes(rows, codes.assumingMemoryBound(to: UInt8.self), pixels, Int32(bias.count),
                                   Int32(bias.count + extra.count), Int32(stride), extra.baseAddress, b.baseAddress,
                                   act, grid.scale, grid.qmin, grid.qmax)
            }
        }
    }

    /// `y[p, c] = act(Σ_{rows r of c} rows[p, r] + bias[c] (+ y[p, c]))`, fake-quantized on `readerGrid` when given
    /// (the reader's quantization fused into the sum).
    func sumRows(_ rows: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, pixels: Int, activation: Activation,
                 accumulate: Bool, readerGrid: InputQuantization.Grid? = nil) {
        let o = bias.count
        if let extraChannel, let stride = paddedRows {
            let act: Int32
            switch activation {
            case .identity: act = Int32(MPQ_DNNL_IDENTITY)
            case .relu: act = Int32(MPQ_DNNL_RELU)
            case .relu6: act = Int32(MPQ_DNNL_RELU6)
            }
            extraChannel.withUnsafeBufferPointer { extra in
                bias.withUnsafeBufferPointer { b in
                    mpq_sum_rows(rows, y, pixels, Int32(bias.count), Int32(o + extra.count), Int32(stride),
                                 extra.baseAddress,
                                 b.baseAddress, act, accumulate ? 1 : 0, readerGrid?.scale ?? 0, readerGrid?.qmin ?? 0,
                                 readerGrid?.qmax ?? 0)
                }
            }
            return
        }
        let r = rowChannel.count
        rowFirst.withUnsafeBufferPointer { first in
            rowCount.withUnsafeBufferPointer { count in
                bias.withUnsafeBufferPointer { bias in
                    for p in 0..<pixels {
                        let src = rows + p * r, dst = y + p * o
                        for c in 0..<o {
                            var v = src[first[c]]
                            var j = 1
                            while j < count[c] { v += src[first[c] + j]; j += 1 }
                            v += bias[c]
                            if accumulate { v += dst[c] }
                            switch activation {
                            case .identity: break
                            case .relu: v = Swift.max(v, 0)
                            case .relu6: v = Swift.min(Swift.max(v, 0), 6)
                            }
                            dst[c] = readerGrid?.apply(v) ?? v
                        }
                    }
                }
            }
        }
    }
}

extension InputQuantization.Grid {
    /// `clamp(round(x / scale), qmin, qmax)` (ties away from zero), the integer `apply` multiplies back.
    @inline(__always)
    func code(_ x: Float) -> Int32 {
        guard scale > 0 else { return 0 }
        let q = (x / scale).rounded(.toNearestOrAwayFromZero)
        return Int32(Swift.min(Swift.max(q, qmin), qmax))
    }
}

/// The integer reference of one quantized conv: u8/s8 input codes times s8 weight codes summed in Int32, per
/// output row, NCHW loops written for clarity (what the engine's accumulators must equal exactly).
public enum IntegerConvReference {
    /// Accumulators `[R, OH, OW]` of `codes [R, C'/g, k, k]` (R rows split evenly into `groups`) over input codes
    /// `[C', H, W]` (CHW), zero padding.
    public static func accumulators(input: [Int32], channels: Int, height: Int, width: Int, codes: [Int8], rows: Int,
                                    kernel: Int, stride: Int, padding: Int, dilation: Int, groups: Int) -> [Int32] {
        let oh = (height + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
        let ow = (width + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
        let cpg = channels / groups, rpg = rows / groups
        var out = [Int32](repeating: 0, count: rows * oh * ow)
        for r in 0..<rows {
            let g = r / rpg
            for y in 0..<oh {
                for x in 0..<ow {
                    var acc: Int32 = 0
                    for j in 0..<cpg {
                        for ky in 0..<kernel {
                            let iy = y * stride - padding + ky * dilation
                            guard iy >= 0, iy < height else { continue }
                            for kx in 0..<kernel {
                                let ix = x * stride - padding + kx * dilation
                                guard ix >= 0, ix < width else { continue }
                                let a = input[((g * cpg + j) * height + iy) * width + ix]
                                let w = Int32(codes[((r * cpg + j) * kernel + ky) * kernel + kx])
                                acc += a * w
                            }
                        }
                    }
                    out[(r * oh + y) * ow + x] = acc
                }
            }
        }
        return out
    }
}

/// How a quantized model runs: `int8` (the default: integer convolutions on oneDNN) or `simulated` (float
/// convolutions over the reconstructed weights `Σ a·q` on fake-quantized inputs, the reference the integer engine
/// is tested against).
public enum QuantizedEngine: String, Sendable, CaseIterable {
    case int8
    case simulated

    /// The conv input quantization that runs `convs` on this engine, and a notice when the int8 engine cannot
    /// run them (activations left float: nothing to multiply as integers).
    public func execution(_ quantization: InputQuantization?, convs: [QuantizedConv])
        -> (quantization: InputQuantization?, notice: String?) {
        guard self == .int8 else { return (quantization, nil) }
        guard let quantization, convs.contains(where: { $0.activation != nil }) else {
            return (quantization, convs.isEmpty ? nil
                    : "activations are float (--abits 32): the int8 engine needs quantized inputs; running simulated")
        }
        return (quantization.integer(convs), nil)
    }
}

extension QuantizedFile {
    /// `inputQuantization` for `engine` (see `QuantizedEngine.execution`).
    public func execution(_ engine: QuantizedEngine) -> (quantization: InputQuantization?, notice: String?) {
        engine.execution(inputQuantization, convs: convs)
    }
}
