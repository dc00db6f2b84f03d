import Foundation

/// The ONNX messages mpq writes, as plain structs that encode themselves with `ProtoWriter`. Field numbers are
/// those of onnx.proto, listed in Proto/onnx_subset.proto (documentation only, not compiled). Fields are written
/// in field-number order; a singular string that is empty is left out (but an opset's domain) (an absent proto2 string reads as empty),
/// a repeated string is always written element by element (a node's empty input name marks an omitted optional
/// input and its position matters), repeated numbers are packed.
enum ONNX {
    /// `TensorProto.DataType`.
    enum DataType: Int64 {
        case float = 1
        case uint8 = 2
        case int8 = 3
        case int32 = 6
        case int64 = 7
    }

    struct ModelProto: ProtoMessage {
        var irVersion: Int64 = 0
        var producerName = ""
        var producerVersion = ""
        var docString = ""
        var graph = GraphProto()
        var opsetImport: [OperatorSetIdProto] = []
        var metadataProps: [StringStringEntryProto] = []

        func encode(to w: inout ProtoWriter) {
            w.int64(1, irVersion)
            if !producerName.isEmpty { w.string(2, producerName) }
            if !producerVersion.isEmpty { w.string(3, producerVersion) }
            if !docString.isEmpty { w.string(6, docString) }
            w.message(7, graph)
            for o in opsetImport { w.message(8, o) }
            for m in metadataProps { w.message(14, m) }
        }
    }

    /// The domain is always written (ONNX reads an absent and an empty one alike as the default domain).
    struct OperatorSetIdProto: ProtoMessage {
        var domain = ""
        var version: Int64 = 0

        func encode(to w: inout ProtoWriter) {
            w.string(1, domain)
            w.int64(2, version)
        }
    }

    struct StringStringEntryProto: ProtoMessage {
        var key = ""
        var value = ""

        func encode(to w: inout ProtoWriter) {
            w.string(1, key)
            w.string(2, value)
        }
    }

    struct GraphProto: ProtoMessage {
        var node: [NodeProto] = []
        var name = ""
        var initializer: [TensorProto] = []
        var input: [ValueInfoProto] = []
        var output: [ValueInfoProto] = []

        func encode(to w: inout ProtoWriter) {
            for n in node { w.message(1, n) }
            if !name.isEmpty { w.string(2, name) }
            for t in initializer { w.message(5, t) }
            for i in input { w.message(11, i) }
            for o in output { w.message(12, o) }
        }
    }

    struct NodeProto: ProtoMessage {
        var input: [String] = []
        var output: [String] = []
        var name = ""
        var opType = ""
        var attribute: [AttributeProto] = []
        var domain = ""

        func encode(to w: inout ProtoWriter) {
            for i in input { w.string(1, i) }
            for o in output { w.string(2, o) }
            if !name.isEmpty { w.string(3, name) }
            w.string(4, opType)
            for a in attribute { w.message(5, a) }
            if !domain.isEmpty { w.string(7, domain) }
        }
    }

    /// An attribute and its one value; `type` (field 20) follows from the value.
    struct AttributeProto: ProtoMessage {
        enum Value {
            case float(Float)
            case int(Int64)
            case string(Data)
            case tensor(TensorProto)
            case floats([Float])
            case ints([Int64])
        }

        var name: String
        var value: Value

        /// `AttributeProto.AttributeType`.
        var type: Int64 {
            switch value {
            case .float: return 1
            case .int: return 2
            case .string: return 3
            case .tensor: return 4
            case .floats: return 6
            case .ints: return 7
            }
        }

        func encode(to w: inout ProtoWriter) {
            w.string(1, name)
            switch value {
            case let .float(f): w.float(2, f)
            case let .int(i): w.int64(3, i)
            case let .string(s): w.bytes(4, s)
            case let .tensor(t): w.message(5, t)
            case let .floats(f): w.packedFloat(7, f)
            case let .ints(i): w.packedInt64(8, i)
            }
            w.int64(20, type)
        }
    }

    struct TensorProto: ProtoMessage {
        var dims: [Int64] = []
        var dataType: DataType = .float
        var name = ""
        var rawData = Data()

        func encode(to w: inout ProtoWriter) {
            w.packedInt64(1, dims)
            w.int64(2, dataType.rawValue)
            if !name.isEmpty { w.string(8, name) }
            w.bytes(9, rawData)
        }
    }

    struct ValueInfoProto: ProtoMessage {
        var name = ""
        var type = TypeProto()

        func encode(to w: inout ProtoWriter) {
            w.string(1, name)
            w.message(2, type)
        }
    }

    /// `TypeProto` with its `tensor_type` (field 1, the only member of the oneof mpq writes).
    struct TypeProto: ProtoMessage {
        var tensorType = Tensor()

        struct Tensor: ProtoMessage {
            var elemType: DataType = .float
            var shape = TensorShapeProto()

            func encode(to w: inout ProtoWriter) {
                w.int64(1, elemType.rawValue)
                w.message(2, shape)
            }
        }

        func encode(to w: inout ProtoWriter) {
            w.message(1, tensorType)
        }
    }

    struct TensorShapeProto: ProtoMessage {
        /// `Dimension`: the oneof of `dim_value` (1) and `dim_param` (2).
        enum Dimension: ProtoMessage {
            case value(Int64)
            case param(String)

            func encode(to w: inout ProtoWriter) {
                switch self {
                case let .value(v): w.int64(1, v)
                case let .param(p): w.string(2, p)
                }
            }
        }

        var dim: [Dimension] = []

        func encode(to w: inout ProtoWriter) {
            for d in dim { w.message(1, d) }
        }
    }
}
