import Foundation
import SSD
import Tensors

/// Why a model cannot be exported. One line naming the layer or the option.
public enum ONNXExportError: Error, CustomStringConvertible, Equatable {
    case unsupportedOpset(Int)
    case unsupportedLayer(name: String, problem: String)
    /// swift-protobuf refused to serialise the model (no message mpq builds has required fields, so this is a bug).
    case encoding(String)

    public var description: String {
        switch self {
        case let .unsupportedOpset(n):
            return "--opset \(n) is not supported: mpq writes opsets \(ONNXExporter.opsets.lowerBound)..."
                + "\(ONNXExporter.opsets.upperBound)"
        case let .unsupportedLayer(name, problem):
            return "layer \(name) cannot be exported: \(problem)"
        case let .encoding(problem):
            return "the ONNX model could not be serialised: \(problem)"
        }
    }
}

/// Writes an `SSDModel` (float, or with its quantized file) as an ONNX model: input `image` `[1, 3, 300, 300]`
/// (preprocessed as the metadata says), outputs `scores` `[1, P, C]` (softmax) and `boxes` `[1, P, 4]` (decoded
/// corners, normalised, priors as constants), or with `postprocess` off the raw head outputs `confidences`
/// `[1, P, C]` and `locations` `[1, P, 4]`.
///
/// A quantized conv with a quantized input is written in one of two forms (docs/export.md). In both, its input is
/// clipped to the calibrated grid and `QuantizeLinear`-ed to u8 (zero point 0 for a non-negative input, 128 for a
/// signed one) and gathered on channels when the layer reads an OCS expansion or depthwise rows; the weights are
/// the int8 codes of all `R = Σ n_c` rows (point-major: each channel's first point first), and extra rows are
/// added to their channels after the conv (one `Gather` + `Add` per point level), then the bias and activation.
/// - `.qdq`: `DequantizeLinear` of the input codes and of the weight codes (per row, axis 0) into a float `Conv`,
///   the standard QDQ graph; ONNX Runtime fuses single-point convs whose output goes to the next quantizer into
///   `QLinearConv` (`Summary.integerConvs` counts them).
/// - `.convInteger`: `ConvInteger` over the codes, the int32 accumulators dequantized per row (axis 1, scale =
///   row scale · input scale): the arithmetic of mpq's int8 engine.
/// Convs mpq keeps float, and weight-only quantized convs (float activations), are float `Conv`s over their
/// (reconstructed) weights.
public enum ONNXExporter {
    public static let opsets = 13...21
    public static let defaultOpset = 17

    /// How a quantized conv with a quantized input is written (docs/export.md, "Two forms").
    public enum QuantizedForm: String, Sendable, CaseIterable {
        /// `QuantizeLinear → DequantizeLinear → Conv ← DequantizeLinear(int8 codes)`: the standard QDQ graph.
        case qdq
        /// `QuantizeLinear → ConvInteger → DequantizeLinear` of the int32 accumulators: mpq's int8 arithmetic.
        case convInteger = "conv-integer"
    }

    /// The element type of the QDQ form's weight codes (docs/export.md, "Weight codes on CPUs without VNNI").
    public enum QDQWeights: String, Sendable, CaseIterable {
        /// int8 codes, zero point 0: the standard symmetric form (TensorRT and most int8 runtimes expect it).
        case s8
        /// uint8 `code + 128`, zero point 128: the same weights; ONNX Runtime then runs u8 x u8 kernels, which
        /// are exact on x86 CPUs without VNNI, where its u8 x s8 kernels add product pairs in 16 bits with
        /// saturation (wrong for 8-bit codes beyond ±64).
        case u8
    }

    public struct Options: Sendable {
        public var postprocess = true
        public var opset = ONNXExporter.defaultOpset
        public var producerVersion = ""
        public var form = QuantizedForm.qdq
        public var qdqWeights = QDQWeights.s8

        public init(postprocess: Bool = true, opset: Int = ONNXExporter.defaultOpset, producerVersion: String = "",
                    form: QuantizedForm = .qdq, qdqWeights: QDQWeights = .s8) {
            self.postprocess = postprocess
            self.opset = opset
            self.producerVersion = producerVersion
            self.form = form
            self.qdqWeights = qdqWeights
        }
    }

    /// What an export wrote, for the command's summary line.
    public struct Summary: Sendable, Equatable {
        public var nodes: Int
        /// Convs ONNX Runtime runs as integer kernels: `ConvInteger`s, or in the QDQ form the predicted
        /// `QLinearConv` fusions.
        public var integerConvs: Int
        /// Float convs: layers kept float, weight-only ones, and in the QDQ form the quantized convs that do not fuse.
        public var floatConvs: Int
        public var bytes: Int
    }

    /// The serialized ONNX model.
    /// - Parameters:
    ///   - quantized: the quantized file `model` was loaded from (its reconstructed weights), or nil for float.
    ///   - classNames: class names without background.
    /// - Throws: `ONNXExportError`.
    public static func export(_ model: SSDModel, quantized: QuantizedFile?, classNames: [String],
                              options: Options = Options()) throws -> (data: Data, summary: Summary) {
        guard opsets.contains(options.opset) else { throw ONNXExportError.unsupportedOpset(options.opset) }
        var writer = NetworkWriter(model: model, quantized: quantized, opset: options.opset, form: options.form,
                                   qdqWeights: options.qdqWeights)
        try writer.write(postprocess: options.postprocess)
        let p = model.priors.count
        var graph = Onnx_GraphProto()
        graph.node = writer.builder.nodes
        graph.name = "mpq_" + model.architecture.rawValue.replacingOccurrences(of: "-", with: "_")
        graph.initializer = writer.builder.initializers
        graph.input = [ONNX.valueInfo("image", [1, 3, SSDModel.inputSize, SSDModel.inputSize])]
        graph.output = options.postprocess
            ? [ONNX.valueInfo("scores", [1, p, model.classes]), ONNX.valueInfo("boxes", [1, p, 4])]
            : [ONNX.valueInfo("confidences", [1, p, model.classes]), ONNX.valueInfo("locations", [1, p, 4])]
        var proto = Onnx_ModelProto()
        proto.irVersion = irVersion(opset: options.opset)
        proto.producerName = "mpq"
        if !options.producerVersion.isEmpty { proto.producerVersion = options.producerVersion }
        proto.docString = "SSD detector \(model.architecture.rawValue) exported by mpq"
        proto.graph = graph
        proto.opsetImport = [ONNX.opset(version: options.opset)]
        proto.metadataProps = metadata(model, quantized: quantized, classNames: classNames, form: options.form,
                                       qdqWeights: options.qdqWeights)
            .map(ONNX.entry)
        let data: Data
        do { data = try proto.serializedData() } catch { throw ONNXExportError.encoding("\(error)") }
        return (data, Summary(nodes: graph.node.count, integerConvs: writer.integerConvs,
                              floatConvs: writer.floatConvs, bytes: data.count))
    }

    /// The IR version the opset needs (ONNX's release table: opsets 13-14 IR 7, 15-18 IR 8, 19-20 IR 9, 21 IR 10).
    static func irVersion(opset: Int) -> Int64 {
        switch opset {
        case ...14: return 7
        case 15...18: return 8
        case 19...20: return 9
        default: return 10
        }
    }

    /// `mpq.*` metadata: architecture, preprocessing (mean and std per channel in input order, on 0-255 pixels
    /// after the resize), channel order, classes (background first) and, for a quantized model, how.
    public static func metadata(_ model: SSDModel, quantized: QuantizedFile?, classNames: [String],
                                form: QuantizedForm = .qdq, qdqWeights: QDQWeights = .s8) -> [(String, String)] {
        let preset = model.architecture.preprocessing
        let mean = [preset.mean.x, preset.mean.y, preset.mean.z]
        let std = [Float](repeating: 1 / preset.scale, count: 3)
        var out: [(String, String)] = [
            ("mpq.architecture", model.architecture.rawValue),
            ("mpq.mean", json(mean.map { Double($0) })),
            ("mpq.std", json(std.map { Double($0) })),
            ("mpq.channel_order", "rgb"),
            ("mpq.classes", json(["background"] + classNames)),
            ("mpq.input_size", "\(SSDModel.inputSize)"),
        ]
        if let q = quantized {
            let integer = q.convs.contains { $0.activation != nil }
            var info: [String: Any] = [
                "method": q.info.method, "wbits": q.info.wbits, "abits": q.info.abits,
                "quantized_layers": q.convs.count,
                "form": integer ? (form == .qdq ? "QDQ" : "ConvInteger") : "float (weight-only)",
            ]
            // The weight codes' element type as written (ConvInteger always writes u8 with zero point 128).
            if integer { info["weight_codes"] = form == .qdq ? qdqWeights.rawValue : "u8" }
            out.append(("mpq.quantization", json(info)))
        }
        return out
    }

    static func json(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]),
              let text = String(data: data, encoding: .utf8) else { return "null" }
        return text
    }
}
