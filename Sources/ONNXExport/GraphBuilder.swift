import Foundation
import SwiftProtobuf

/// Accumulates the nodes and initializers of one ONNX graph with unique names.
struct GraphBuilder {
    let opset: Int
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    private var used: [String: Int] = [:]
    private var scalars: [String: String] = [:]

    init(opset: Int) {
        self.opset = opset
    }

    /// `hint`, or `hint_2`, `hint_3`, … when taken.
    mutating func unique(_ hint: String) -> String {
        let n = used[hint, default: 0]
        used[hint] = n + 1
        return n == 0 ? hint : "\(hint)_\(n + 1)"
    }

    // MARK: Initializers

    private mutating func tensor(_ name: String, type: ONNX.DataType, shape: [Int], bytes: Data)
        -> String {
        let t = ONNX.tensor(name: unique(name), type: type, dims: shape.map(Int64.init), rawData: bytes)
        initializers.append(t)
        return t.name
    }

    /// Little-endian bytes of `values` (every platform Swift runs on here is little-endian; asserted).
    private static func bytes<T>(_ values: [T]) -> Data {
        precondition(1.littleEndian == 1, "ONNX raw data is little-endian")
        return values.withUnsafeBytes { Data($0) }
    }

    mutating func floats(_ name: String, _ values: [Float], shape: [Int]) -> String {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        return tensor(name, type: .float, shape: shape, bytes: Self.bytes(values))
    }

    mutating func int8s(_ name: String, _ values: [Int8], shape: [Int]) -> String {
        tensor(name, type: .int8, shape: shape, bytes: Self.bytes(values))
    }

    mutating func uint8s(_ name: String, _ values: [UInt8], shape: [Int]) -> String {
        tensor(name, type: .uint8, shape: shape, bytes: Self.bytes(values))
    }

    /// An int64 tensor; the same name and values asked again give the same initializer.
    mutating func int64s(_ name: String, _ values: [Int], shape: [Int]? = nil) -> String {
        let key = "i/\(name)/\(values)"
        if let done = scalars[key] { return done }
        let made = tensor(name, type: .int64, shape: shape ?? [values.count], bytes: Self.bytes(values.map(Int64.init)))
        scalars[key] = made
        return made
    }

    /// A float scalar constant, shared by every node that uses the same value.
    mutating func scalar(_ value: Float) -> String {
        let key = "f\(value.bitPattern)"
        if let name = scalars[key] { return name }
        let name = tensor("const_\(value)", type: .float, shape: [], bytes: Self.bytes([value]))
        scalars[key] = name
        return name
    }

    /// A uint8 scalar constant (a zero point), shared.
    mutating func scalar(uint8 value: UInt8) -> String {
        let key = "u\(value)"
        if let name = scalars[key] { return name }
        let name = tensor("zero_point_u8_\(value)", type: .uint8, shape: [], bytes: Self.bytes([value]))
        scalars[key] = name
        return name
    }

    // MARK: Nodes

    /// Adds `op` on `inputs` (empty string = an omitted optional input) and returns its output name.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], name: String, output: String? = nil,
                       _ attributes: [Onnx_AttributeProto] = []) -> String {
        let nodeName = unique(name)
        let n = ONNX.node(op, inputs: inputs, outputs: [output ?? unique(name + "_out")], name: nodeName,
                          attributes: attributes)
        nodes.append(n)
        return n.output[0]
    }

    // MARK: Attributes

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        ONNX.attribute(name, .ints(values.map(Int64.init)))
    }

    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        ONNX.attribute(name, .int(Int64(value)))
    }
}
