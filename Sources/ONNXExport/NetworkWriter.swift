import Foundation
import SSD
import Tensors

/// Translates a `NetworkGraph` into ONNX nodes (see `ONNXExporter` for the forms).
struct NetworkWriter {
    let model: SSDModel
    let quantized: [String: QuantizedConv]
    var builder: GraphBuilder
    /// ONNX name of each graph value.
    private var names: [Int: String] = [NetworkGraph.input: "image"]
    /// Quantized u8 codes already computed: `value/scale bits/zero point` -> name (convs sharing an input and a
    /// grid share one QuantizeLinear).
    private var codes: [String: String] = [:]
    private(set) var integerConvs = 0
    private(set) var floatConvs = 0
    let form: ONNXExporter.QuantizedForm
    /// QDQ form: each single-point conv's output (after its activation) and the activation, to find afterwards
    /// which ones ONNX Runtime fuses into QLinearConv (`countFusedQDQ`).
    private var qdqOutputs: [(output: String, activation: Activation)] = []
    /// QuantizeLinear outputs -> (scale, zero point), for `countFusedQDQ`.
    private var quantizers: [String: (scale: Float, zeroPoint: UInt8)] = [:]

    /// QDQ form: the weight codes' element type.
    let qdqWeights: ONNXExporter.QDQWeights

    init(model: SSDModel, quantized: QuantizedFile?, opset: Int, form: ONNXExporter.QuantizedForm = .convInteger,
         qdqWeights: ONNXExporter.QDQWeights = .s8) {
        self.model = model
        self.form = form
        self.qdqWeights = qdqWeights
        self.quantized = Dictionary((quantized?.convs ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        builder = GraphBuilder(opset: opset)
    }

    private func name(_ value: Int) -> String {
        guard let n = names[value] else { preconditionFailure("graph value \(value) used before it is produced") }
        return n
    }

    mutating func write(postprocess: Bool) throws {
        let graph = model.graph
        var readers: [Int: [NetworkGraph.Node]] = [:]
        for node in graph.nodes { for v in Self.inputs(of: node) { readers[v, default: []].append(node) } }
        for node in graph.nodes {
            switch node {
            case let .conv(unit, input, output):
                names[output] = try conv(unit, name(input))
            case let .maxPool(pool, input, output):
                var attrs = [GraphBuilder.ints("kernel_shape", [pool.kernel, pool.kernel]),
                             GraphBuilder.ints("strides", [pool.stride, pool.stride]),
                             GraphBuilder.ints("pads", [Int](repeating: pool.padding, count: 4))]
                if pool.ceilMode { attrs.append(GraphBuilder.int("ceil_mode", 1)) }
                var x = name(input)
                if let (reader, grid) = quantizedPoolReader(input: input, output: output, readers: readers) {
                    // QDQ form: the pool's only reader quantizes it on `grid`. Max commutes with that
                    // (monotone) quantization, so quantizing before the pool is exact, and the conv before it
                    // ends in a Q that ONNX Runtime fuses into QLinearConv (the pool then runs on u8 codes).
                    let (codes, zp) = quantize(x, grid, layer: reader)
                    x = builder.node("DequantizeLinear", [codes, builder.scalar(grid.scale), zp],
                                     name: reader + "/pool_input_dequantize")
                }
                names[output] = builder.node("MaxPool", [x], name: "pool", attrs)
            case let .add(a, b, output):
                names[output] = builder.node("Add", [name(a), name(b)], name: "residual")
            case let .channelAffine(scale, shift, input, output):
                let c = scale.count
                let s = builder.floats("source_norm.scale", scale, shape: [1, c, 1, 1])
                let t = builder.floats("source_norm.shift", shift, shape: [1, c, 1, 1])
                let y = builder.node("Mul", [name(input), s], name: "source_norm_mul")
                names[output] = builder.node("Add", [y, t], name: "source_norm_add")
            case let .l2Norm(weight, eps, input, output):
                let norm = l2(name(input))
                let d = builder.node("Add", [norm, builder.scalar(eps)], name: "l2norm_eps")
                let q = builder.node("Div", [name(input), d], name: "l2norm_div")
                let w = builder.floats("L2Norm.weight", weight, shape: [1, weight.count, 1, 1])
                names[output] = builder.node("Mul", [q, w], name: "l2norm_scale")
            case let .scaledL2Norm(scale, floor, input, output):
                let norm = l2(name(input))
                let d = builder.node("Max", [norm, builder.scalar(floor)], name: "l2norm_floor")
                let q = builder.node("Div", [name(input), d], name: "l2norm_div")
                let w = builder.floats("source_layer_add_ons.0.scale", scale, shape: [1, scale.count, 1, 1])
                names[output] = builder.node("Mul", [q, w], name: "l2norm_scale")
            }
        }
        let conf = concatHeads(graph.classification, rowLength: model.classes, label: "confidences",
                               output: postprocess ? nil : "confidences")
        let loc = concatHeads(graph.regression, rowLength: 4, label: "locations",
                              output: postprocess ? nil : "locations")
        if postprocess {
            builder.node("Softmax", [conf], name: "softmax", output: "scores", [GraphBuilder.int("axis", 2)])
            decode(loc)
        }
        if form == .qdq { integerConvs = countFusedQDQ() }
    }

    /// The QDQ form's convs that ONNX Runtime's QDQ fusion turns into `QLinearConv`: one point per channel, the
    /// output read only by a `QuantizeLinear` (the next quantized conv's input), and the activation absorbed by
    /// that quantizer (ReLU and ReLU6 are dropped when the grid starts at zero, ReLU6 only when the grid ends
    /// at or below 6). Measured on ONNX Runtime 1.32 and asserted in ExportTests against its optimized model.
    private mutating func countFusedQDQ() -> Int {
        var consumers: [String: [Onnx_NodeProto]] = [:]
        for n in builder.nodes { for i in n.input where !i.isEmpty { consumers[i, default: []].append(n) } }
        var fused = 0
        for (output, activation) in qdqOutputs {
            guard let readers = consumers[output], readers.count == 1, readers[0].opType == "QuantizeLinear",
                  let q = quantizers[readers[0].output[0]] else { continue }
            switch activation {
            case .identity: fused += 1
            case .relu: if q.zeroPoint == 0 { fused += 1 }
            case .relu6: if q.zeroPoint == 0 && Float(255) * q.scale <= 6 { fused += 1 }
            }
        }
        floatConvs += qdqOutputs.count - fused
        return fused
    }

    private static func inputs(of node: NetworkGraph.Node) -> [Int] {
        switch node {
        case let .conv(_, input, _), let .maxPool(_, input, _), let .channelAffine(_, _, input, _),
             let .l2Norm(_, _, input, _), let .scaledL2Norm(_, _, input, _):
            return [input]
        case let .add(a, b, _):
            return [a, b]
        }
    }

    /// QDQ form: the reader conv and its grid when a pool's input is read by the pool only and its output only
    /// by one quantized conv with a quantized input (whose grid the pool's input can then be quantized on).
    private func quantizedPoolReader(input: Int, output: Int, readers: [Int: [NetworkGraph.Node]])
        -> (String, QuantizedConv.ActivationGrid)? {
        guard form == .qdq, readers[input]?.count == 1, let after = readers[output], after.count == 1,
              case let .conv(unit, _, _) = after[0], let q = quantized[unit.name], let grid = q.activation
        else { return nil }
        return (q.name, grid)
    }

    /// `sqrt(Σ_c x²)` over channels, `[1, 1, H, W]`.
    private mutating func l2(_ x: String) -> String {
        let ss: String
        if builder.opset >= 18 {
            ss = builder.node("ReduceSumSquare", [x, builder.int64s("axes_1", [1])], name: "l2norm_sumsq",
                              [GraphBuilder.int("keepdims", 1)])
        } else {
            ss = builder.node("ReduceSumSquare", [x], name: "l2norm_sumsq",
                              [GraphBuilder.ints("axes", [1]), GraphBuilder.int("keepdims", 1)])
        }
        return builder.node("Sqrt", [ss], name: "l2norm_sqrt")
    }

    /// The heads' NCHW maps as rows `[1, P, K]` in prior order (`permute(0, 2, 3, 1).reshape(1, -1, K)`).
    private mutating func concatHeads(_ values: [Int], rowLength k: Int, label: String, output: String?) -> String {
        let shape = builder.int64s("\(label)_row_shape", [1, -1, k])
        var rows: [String] = []
        for (i, v) in values.enumerated() {
            let t = builder.node("Transpose", [name(v)], name: "\(label)_\(i)_nhwc", [GraphBuilder.ints("perm", [0, 2, 3, 1])])
            rows.append(builder.node("Reshape", [t, shape], name: "\(label)_\(i)_rows"))
        }
        return builder.node("Concat", rows, name: label, output: output, [GraphBuilder.int("axis", 1)])
    }

    /// `BoxDecoder` as ONNX ops (same float operation order): centre = loc_xy · 0.1 · prior_wh + prior_xy,
    /// wh = exp(loc_wh · 0.2) · prior_wh, corners = centre ∓ wh / 2 (amdegroot: x2 = wh + x1).
    private mutating func decode(_ loc: String) {
        let priors = model.priors.centerForm, p = model.priors.count
        var xy = [Float](), wh = [Float]()
        xy.reserveCapacity(2 * p)
        wh.reserveCapacity(2 * p)
        for i in 0..<p {
            xy += [priors[4 * i], priors[4 * i + 1]]
            wh += [priors[4 * i + 2], priors[4 * i + 3]]
        }
        let pxy = builder.floats("priors_center", xy, shape: [1, p, 2])
        let pwh = builder.floats("priors_size", wh, shape: [1, p, 2])
        let decoder = model.architecture.boxDecoder
        let axes = builder.int64s("axis_2", [2])
        let lxy = builder.node("Slice", [loc, builder.int64s("start_0", [0]), builder.int64s("end_2", [2]), axes],
                               name: "loc_center")
        let lwh = builder.node("Slice", [loc, builder.int64s("start_2", [2]), builder.int64s("end_4", [4]), axes],
                               name: "loc_size")
        let c1 = builder.node("Mul", [lxy, builder.scalar(decoder.centerVariance)], name: "center_variance")
        let c2 = builder.node("Mul", [c1, pwh], name: "center_scale")
        let center = builder.node("Add", [c2, pxy], name: "center")
        let s1 = builder.node("Mul", [lwh, builder.scalar(decoder.sizeVariance)], name: "size_variance")
        let s2 = builder.node("Exp", [s1], name: "size_exp")
        let size = builder.node("Mul", [s2, pwh], name: "size")
        let half = builder.node("Div", [size, builder.scalar(2)], name: "half_size")
        let topLeft = builder.node("Sub", [center, half], name: "top_left")
        let bottomRight: String
        switch decoder.convention {
        case .qfgaohao: bottomRight = builder.node("Add", [center, half], name: "bottom_right")
        case .amdegroot: bottomRight = builder.node("Add", [size, topLeft], name: "bottom_right")
        }
        builder.node("Concat", [topLeft, bottomRight], name: "corners", output: "boxes", [GraphBuilder.int("axis", 2)])
    }

    // MARK: Convolutions

    private static func convAttributes(_ conv: Conv2D, groups: Int) -> [Onnx_AttributeProto] {
        [GraphBuilder.ints("kernel_shape", [conv.kernelH, conv.kernelW]),
         GraphBuilder.ints("strides", [conv.stride, conv.stride]),
         GraphBuilder.ints("pads", [Int](repeating: conv.padding, count: 4)),
         GraphBuilder.ints("dilations", [conv.dilation, conv.dilation]),
         GraphBuilder.int("group", groups)]
    }

    private mutating func activation(_ a: Activation, _ x: String, layer: String) -> String {
        switch a {
        case .identity: return x
        case .relu: return builder.node("Relu", [x], name: layer + "/relu")
        case .relu6:
            return builder.node("Clip", [x, builder.scalar(0), builder.scalar(6)], name: layer + "/relu6")
        }
    }

    private mutating func gather(_ x: String, _ map: [Int], layer: String) -> String {
        builder.node("Gather", [x, builder.int64s(layer + ".input_map", map)], name: layer + "/gather",
                     [GraphBuilder.int("axis", 1)])
    }

    mutating func conv(_ unit: ConvUnit, _ x: String) throws -> String {
        if let q = quantized[unit.name], let grid = q.activation {
            switch form {
            case .convInteger:
                integerConvs += 1
                return try integerConv(unit, q, grid, x)
            case .qdq:
                return try qdqConv(unit, q, grid, x)
            }
        }
        floatConvs += 1
        let conv = unit.conv
        let input = unit.inputChannelMap.map { gather(x, $0, layer: unit.name) } ?? x
        let w = builder.floats(unit.name + ".weight", conv.weight.data, shape: conv.weight.shape)
        let b = builder.floats(unit.name + ".bias", conv.bias ?? [Float](repeating: 0, count: conv.outChannels),
                               shape: [conv.outChannels])
        let y = builder.node("Conv", [input, w, b], name: unit.name, Self.convAttributes(conv, groups: conv.groups))
        return activation(conv.activation, y, layer: unit.name)
    }

    /// u8 codes of `x` on `grid` (clipped to the grid first when it is narrower than u8 with its zero point).
    private mutating func quantize(_ x: String, _ a: QuantizedConv.ActivationGrid, layer: String) -> (String, String) {
        let zeroPoint: UInt8 = a.isUnsigned ? 0 : 128
        let zp = builder.scalar(uint8: zeroPoint)
        let key = "\(x)/\(a.scale.bitPattern)/\(a.qmin)/\(a.qmax)/\(zeroPoint)"
        if let done = codes[key] { return (done, zp) }
        var input = x
        let typeMin = -Int(zeroPoint), typeMax = 255 - Int(zeroPoint)
        if a.qmin > typeMin || a.qmax < typeMax {
            input = builder.node("Clip", [x, builder.scalar(Float(a.qmin) * a.scale), builder.scalar(Float(a.qmax) * a.scale)],
                                 name: layer + "/input_clip")
        }
        let q = builder.node("QuantizeLinear", [input, builder.scalar(a.scale), zp], name: layer + "/input_quantize")
        codes[key] = q
        quantizers[q] = (a.scale, zeroPoint)
        return (q, zp)
    }

    /// A quantized conv's rows in point-major order (each channel's first point in channel order, then the other
    /// points): their int8 codes, their weight scales and the channel of each.
    private struct Rows {
        var codes: [Int8] = []
        var scales: [Float] = []
        var channel: [Int] = []
        var count: Int { channel.count }
    }

    private func rows(_ unit: ConvUnit, _ q: QuantizedConv) throws -> Rows {
        let conv = unit.conv, o = q.outputChannels, g = conv.groups
        let depthwise = g > 1 && g == o && g == conv.inChannels
        guard q.weightShape == [o, conv.inChannels / g, conv.kernelH, conv.kernelW], o == conv.outChannels,
              q.bias.count == o else {
            throw ONNXExportError.unsupportedLayer(name: q.name, problem: "codes of shape \(q.weightShape) do not fit "
                                                   + "the layer [\(conv.outChannels), \(conv.inChannels / g), \(conv.kernelH), \(conv.kernelW)]")
        }
        guard g == 1 || (depthwise && q.inputChannelMap == nil) else {
            throw ONNXExportError.unsupportedLayer(name: q.name, problem: "a grouped conv that is not depthwise, or "
                                                   + "a depthwise conv with split input channels")
        }
        let channelOfRow = q.channelOfRow, length = q.rowLength
        var first = [Int](repeating: -1, count: o), extras: [Int] = []
        for (r, c) in channelOfRow.enumerated() {
            if first[c] < 0 { first[c] = r } else { extras.append(r) }
        }
        var rows = Rows()
        rows.codes.reserveCapacity(q.codes.count)
        for r in first + extras {
            rows.codes += q.codes[(r * length)..<((r + 1) * length)]
            rows.scales.append(q.scales[r])
            rows.channel.append(channelOfRow[r])
        }
        return rows
    }

    /// The u8 codes a quantized conv reads, gathered on channels for an OCS expansion or depthwise rows, with
    /// their zero point, and the conv's groups and input channels.
    private mutating func inputCodes(_ unit: ConvUnit, _ q: QuantizedConv, _ a: QuantizedConv.ActivationGrid,
                                     _ rows: Rows, _ x: String)
        -> (codes: String, zeroPoint: String, groups: Int, inputChannels: Int) {
        let conv = unit.conv
        var (codes, zp) = quantize(x, a, layer: q.name)
        if conv.groups > 1 {   // depthwise (checked by `rows`): one group per row
            if rows.count > q.outputChannels { codes = gather(codes, rows.channel, layer: q.name) }
            return (codes, zp, rows.count, 1)
        }
        if let map = q.inputChannelMap { codes = gather(codes, map, layer: q.name) }
        return (codes, zp, 1, q.inputChannelMap?.count ?? conv.inChannels)
    }

    /// `y[c] = row c + Σ extra rows of c + bias` for rows in point-major order. Level k gathers each channel's
    /// k-th extra row (or a zero row appended by Pad for channels with fewer points): n_max − 1 gathers and adds
    /// of O channels. One point per channel: only the bias.
    private mutating func sumRows(_ y: String, _ rows: Rows, _ q: QuantizedConv) -> String {
        let o = q.outputChannels
        let bias = builder.floats(q.name + ".bias", q.bias, shape: [1, o, 1, 1])
        guard rows.count > o else { return builder.node("Add", [y, bias], name: q.name + "/bias") }
        var levels: [[Int]] = []
        var seen = [Int](repeating: 0, count: o)
        for r in o..<rows.count {
            let c = rows.channel[r], k = seen[c]
            seen[c] += 1
            if levels.count <= k { levels.append([Int](repeating: rows.count, count: o)) }
            levels[k][c] = r
        }
        let axis = builder.int64s("axis_1", [1])
        var sum = builder.node("Slice", [y, builder.int64s("start_0", [0]), builder.int64s(q.name + ".first_rows", [o]),
                                         axis], name: q.name + "/first_points")
        let padded = builder.node("Pad", [y, builder.int64s("pad_one_channel", [0, 0, 0, 0, 0, 1, 0, 0])],
                                  name: q.name + "/zero_row")
        for (k, index) in levels.enumerated() {
            let extra = builder.node("Gather", [padded, builder.int64s(q.name + ".point_\(k + 2)_rows", index)],
                                     name: q.name + "/point_\(k + 2)", [GraphBuilder.int("axis", 1)])
            sum = builder.node("Add", [sum, extra], name: q.name + "/add_point_\(k + 2)")
        }
        return builder.node("Add", [sum, bias], name: q.name + "/bias")
    }

    /// ConvInteger form: integer accumulators of all rows, dequantized per row, summed back per channel.
    private mutating func integerConv(_ unit: ConvUnit, _ q: QuantizedConv, _ a: QuantizedConv.ActivationGrid,
                                      _ x: String) throws -> String {
        let conv = unit.conv
        let rows = try rows(unit, q)
        let input = inputCodes(unit, q, a, rows, x)
        let shape = [rows.count, input.inputChannels, conv.kernelH, conv.kernelW]
        // The int8 codes stored as u8 `code + 128` with weight zero point 128: ConvInteger computes
        // Σ (x − z_x)(w − 128) exactly in int32 either way, but ONNX Runtime 1.32's CPU ConvInteger is far slower
        // with s8 weights (demo w4a8 multipoint 4.25, one thread: 126 ms of ConvInteger per image with s8 codes,
        // 19 ms with the same codes as u8), and u8 x s8 kernels on AVX2 without VNNI add product pairs in 16 bits
        // with saturation (exact only while 2·255·|w| fits), while u8 x u8 ones widen first.
        let shifted = rows.codes.map { UInt8(Int($0) + 128) }
        let convInputs = [input.codes, builder.uint8s(q.name + ".codes_u8", shifted, shape: shape), input.zeroPoint,
                          builder.scalar(uint8: 128)]
        let acc = builder.node("ConvInteger", convInputs, name: q.name + "/conv_integer",
                               Self.convAttributes(conv, groups: input.groups))
        let s = builder.floats(q.name + ".row_scales", rows.scales.map { $0 * a.scale }, shape: [rows.count])
        let dq = builder.node("DequantizeLinear", [acc, s], name: q.name + "/dequantize", [GraphBuilder.int("axis", 1)])
        return activation(conv.activation, sumRows(dq, rows, q), layer: q.name)
    }

    /// QDQ form: `DequantizeLinear` of the input codes and of the int8 weight codes (per row, axis 0) into a
    /// float `Conv`; one point per channel takes the bias in the Conv, several points are summed back after it.
    /// The next quantized conv's `QuantizeLinear` on the output completes the `DQ → Conv → Q` unit that ONNX
    /// Runtime (and other int8 runtimes) run as an integer conv.
    private mutating func qdqConv(_ unit: ConvUnit, _ q: QuantizedConv, _ a: QuantizedConv.ActivationGrid,
                                  _ x: String) throws -> String {
        let conv = unit.conv, o = q.outputChannels
        let rows = try rows(unit, q)
        let input = inputCodes(unit, q, a, rows, x)
        let xd = builder.node("DequantizeLinear", [input.codes, builder.scalar(a.scale), input.zeroPoint],
                              name: q.name + "/input_dequantize")
        let shape = [rows.count, input.inputChannels, conv.kernelH, conv.kernelW]
        // s8 codes with zero point 0, or the same weights as u8 `code + 128` with zero point 128 (`--qdq-weights`).
        let unsigned = qdqWeights == .u8
        let w = unsigned ? builder.uint8s(q.name + ".codes_u8", rows.codes.map { UInt8(Int($0) + 128) }, shape: shape)
                         : builder.int8s(q.name + ".codes", rows.codes, shape: shape)
        let ws = builder.floats(q.name + ".row_scales", rows.scales, shape: [rows.count])
        let wz = unsigned
            ? builder.uint8s(q.name + ".zero_points", [UInt8](repeating: 128, count: rows.count), shape: [rows.count])
            : builder.int8s(q.name + ".zero_points", [Int8](repeating: 0, count: rows.count), shape: [rows.count])
        let wd = builder.node("DequantizeLinear", [w, ws, wz], name: q.name + "/weight_dequantize",
                              [GraphBuilder.int("axis", 0)])
        let attributes = Self.convAttributes(conv, groups: input.groups)
        if rows.count == o {
            let bias = builder.floats(q.name + ".bias", q.bias, shape: [o])
            let out = activation(conv.activation, builder.node("Conv", [xd, wd, bias], name: q.name, attributes),
                                 layer: q.name)
            qdqOutputs.append((out, conv.activation))
            return out
        }
        let y = builder.node("Conv", [xd, wd], name: q.name, attributes)
        floatConvs += 1
        return activation(conv.activation, sumRows(y, rows, q), layer: q.name)
    }
}
