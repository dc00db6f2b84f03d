import Foundation
@testable import ONNXExport
import XCTest

/// The hand-written protobuf encoder against bytes worked out by hand from the wire-format rules
/// (protobuf.dev/programming-guides/encoding) and onnx.proto's field numbers. Whole exports are checked by
/// onnx.checker and ONNX Runtime in mpqTests/ExportTests.
final class ProtoWriterTests: XCTestCase {
    func bytes(_ body: (inout ProtoWriter) -> Void) -> [UInt8] {
        var w = ProtoWriter()
        body(&w)
        return [UInt8](w.data)
    }

    func testVarints() {
        XCTAssertEqual(bytes { $0.varint(0) }, [0x00])
        XCTAssertEqual(bytes { $0.varint(1) }, [0x01])
        XCTAssertEqual(bytes { $0.varint(127) }, [0x7F])
        XCTAssertEqual(bytes { $0.varint(128) }, [0x80, 0x01])
        // 300 = 0b10_0101100: low seven bits 0101100 with the continuation bit (0xAC), then 0b10.
        XCTAssertEqual(bytes { $0.varint(300) }, [0xAC, 0x02])
        XCTAssertEqual(bytes { $0.varint(16_384) }, [0x80, 0x80, 0x01])
        XCTAssertEqual(bytes { $0.varint(UInt64.max) }, [UInt8](repeating: 0xFF, count: 9) + [0x01])
        for v: UInt64 in [0, 127, 128, 300, 16_383, 16_384, 1 << 35, UInt64.max] {
            XCTAssertEqual(ProtoWriter.varintSize(v), bytes { $0.varint(v) }.count, "\(v)")
        }
    }

    func testTagsAndScalarFields() {
        // tag = field << 3 | wire type
        XCTAssertEqual(bytes { $0.int64(1, 8) }, [0x08, 0x08])
        XCTAssertEqual(bytes { $0.int64(3, 0) }, [0x18, 0x00], "a set zero is written")
        // field 20: 20 << 3 = 160 = varint A0 01
        XCTAssertEqual(bytes { $0.int64(20, 7) }, [0xA0, 0x01, 0x07])
        // negative int64: ten-byte varint of the two's complement
        XCTAssertEqual(bytes { $0.int64(3, -1) }, [0x18] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        XCTAssertEqual(bytes { $0.int64(3, -2) }, [0x18, 0xFE] + [UInt8](repeating: 0xFF, count: 8) + [0x01])
        // float: wire type 5, IEEE 754 little-endian (1.0 = 0x3F800000, -2.5 = 0xC0200000)
        XCTAssertEqual(bytes { $0.float(2, 1) }, [0x15, 0x00, 0x00, 0x80, 0x3F])
        XCTAssertEqual(bytes { $0.float(2, -2.5) }, [0x15, 0x00, 0x00, 0x20, 0xC0])
    }

    func testLengthDelimitedAndPacked() {
        XCTAssertEqual(bytes { $0.string(1, "ab") }, [0x0A, 0x02, 0x61, 0x62])
        XCTAssertEqual(bytes { $0.string(1, "") }, [0x0A, 0x00])
        XCTAssertEqual(bytes { $0.string(4, "é") }, [0x22, 0x02, 0xC3, 0xA9], "UTF-8")
        XCTAssertEqual(bytes { $0.bytes(9, Data([0x01, 0xFF])) }, [0x4A, 0x02, 0x01, 0xFF])
        // A 200-byte payload: its length is the two-byte varint C8 01.
        let long = bytes { $0.bytes(9, Data(repeating: 7, count: 200)) }
        XCTAssertEqual(Array(long.prefix(3)), [0x4A, 0xC8, 0x01])
        XCTAssertEqual(long.count, 203)
        // packed int64 [1, 300, -1]: one length-delimited field, 1 + 2 + 10 bytes of varints
        XCTAssertEqual(bytes { $0.packedInt64(8, [1, 300, -1]) },
                       [0x42, 0x0D, 0x01, 0xAC, 0x02] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        XCTAssertEqual(bytes { $0.packedInt64(8, []) }, [], "an empty repeated field is absent")
        XCTAssertEqual(bytes { $0.packedFloat(7, [1, -2.5]) },
                       [0x3A, 0x08, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0])
        XCTAssertEqual(bytes { $0.packedFloat(7, []) }, [])
    }

    func testAttributes() {
        // name "axis" (field 1), i = 1 (field 3), type INT = 2 (field 20)
        XCTAssertEqual([UInt8](GraphBuilder.int("axis", 1).serialized()),
                       [0x0A, 0x04, 0x61, 0x78, 0x69, 0x73, 0x18, 0x01, 0xA0, 0x01, 0x02])
        XCTAssertEqual([UInt8](GraphBuilder.int("keepdims", 0).serialized()),
                       [0x0A, 0x08] + Array("keepdims".utf8) + [0x18, 0x00, 0xA0, 0x01, 0x02])
        // ints (field 8, packed), type INTS = 7
        XCTAssertEqual([UInt8](GraphBuilder.ints("perm", [0, 2, 3, 1]).serialized()),
                       [0x0A, 0x04, 0x70, 0x65, 0x72, 0x6D, 0x42, 0x04, 0x00, 0x02, 0x03, 0x01, 0xA0, 0x01, 0x07])
        // f (field 2, fixed32), type FLOAT = 1
        XCTAssertEqual([UInt8](ONNX.AttributeProto(name: "alpha", value: .float(1)).serialized()),
                       [0x0A, 0x05] + Array("alpha".utf8) + [0x15, 0x00, 0x00, 0x80, 0x3F, 0xA0, 0x01, 0x01])
    }

    func testNodeByteForByte() {
        // Relu with an omitted optional second input: the empty name is written, in its place.
        let relu = ONNX.NodeProto(input: ["x", ""], output: ["y"], name: "n", opType: "Relu")
        XCTAssertEqual([UInt8](relu.serialized()), [
            0x0A, 0x01, 0x78,                   // input "x"
            0x0A, 0x00,                         // input ""
            0x12, 0x01, 0x79,                   // output "y"
            0x1A, 0x01, 0x6E,                   // name "n"
            0x22, 0x04, 0x52, 0x65, 0x6C, 0x75, // op_type "Relu"
        ])
        var builder = GraphBuilder(opset: 17)
        let out = builder.node("Transpose", ["x"], name: "t", output: "y", [GraphBuilder.ints("perm", [0, 2, 3, 1])])
        XCTAssertEqual(out, "y")
        XCTAssertEqual([UInt8](builder.nodes[0].serialized()), [
            0x0A, 0x01, 0x78,                                                 // input "x"
            0x12, 0x01, 0x79,                                                 // output "y"
            0x1A, 0x01, 0x74,                                                 // name "t"
            0x22, 0x09, 0x54, 0x72, 0x61, 0x6E, 0x73, 0x70, 0x6F, 0x73, 0x65, // op_type "Transpose"
            0x2A, 0x0F,                                                       // attribute, 15 bytes:
            0x0A, 0x04, 0x70, 0x65, 0x72, 0x6D, 0x42, 0x04, 0x00, 0x02, 0x03, 0x01, 0xA0, 0x01, 0x07,
        ])
    }

    func testInitializers() {
        var builder = GraphBuilder(opset: 17)
        _ = builder.uint8s("w", [1, 255], shape: [2])
        let c = builder.scalar(Float(1))
        XCTAssertEqual(builder.scalar(Float(1)), c, "one initializer per scalar value")
        _ = builder.int64s("s", [1, -1, 4])
        XCTAssertEqual(builder.initializers.count, 3)
        XCTAssertEqual([UInt8](builder.initializers[0].serialized()), [
            0x0A, 0x01, 0x02,       // dims [2] (packed)
            0x10, 0x02,             // data_type UINT8
            0x42, 0x01, 0x77,       // name "w"
            0x4A, 0x02, 0x01, 0xFF, // raw_data
        ])
        // A scalar has no dims field; raw data little-endian.
        XCTAssertEqual([UInt8](builder.initializers[1].serialized()),
                       [0x10, 0x01, 0x42, 0x09] + Array("const_1.0".utf8) + [0x4A, 0x04, 0x00, 0x00, 0x80, 0x3F])
        XCTAssertEqual([UInt8](builder.initializers[2].serialized()),
                       [0x0A, 0x01, 0x03, 0x10, 0x07, 0x42, 0x01, 0x73, 0x4A, 0x18,
                        0x01, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x04, 0, 0, 0, 0, 0, 0, 0])
    }

    func testValueInfoAndModel() {
        let info = ONNXExporter.valueInfo("image", [1, 3])
        let shape: [UInt8] = [0x0A, 0x02, 0x08, 0x01, 0x0A, 0x02, 0x08, 0x03]    // dim {dim_value 1}, dim {dim_value 3}
        let tensor: [UInt8] = [0x08, 0x01, 0x12, 0x08] + shape                   // elem_type FLOAT, shape
        let type: [UInt8] = [0x0A, 0x0C] + tensor                                 // tensor_type
        XCTAssertEqual([UInt8](info.serialized()), [0x0A, 0x05] + Array("image".utf8) + [0x12, 0x0E] + type)
        XCTAssertEqual([UInt8](ONNX.TensorShapeProto.Dimension.param("N").serialized()), [0x12, 0x01, 0x4E])

        let node = ONNX.NodeProto(input: ["x"], output: ["y"], name: "n", opType: "Relu")
        let nodeBytes = [UInt8](node.serialized())
        let graph = ONNX.GraphProto(node: [node], name: "g", input: [ONNXExporter.valueInfo("x", [1])],
                                    output: [ONNXExporter.valueInfo("y", [1])])
        let x: [UInt8] = [0x0A, 0x01, 0x78, 0x12, 0x0A, 0x0A, 0x08, 0x08, 0x01, 0x12, 0x04, 0x0A, 0x02, 0x08, 0x01]
        let y: [UInt8] = [0x0A, 0x01, 0x79] + x[3...]
        let graphBytes: [UInt8] = [0x0A, UInt8(nodeBytes.count)] + nodeBytes + [0x12, 0x01, 0x67]
            + [0x5A, UInt8(x.count)] + x + [0x62, UInt8(y.count)] + y    // fields 11 and 12: tags 5A, 62
        XCTAssertEqual([UInt8](graph.serialized()), graphBytes)
        let model = ONNX.ModelProto(irVersion: 8, producerName: "mpq", graph: graph,
                                    opsetImport: [ONNX.OperatorSetIdProto(domain: "", version: 17)],
                                    metadataProps: [ONNX.StringStringEntryProto(key: "k", value: "")])
        XCTAssertEqual([UInt8](model.serialized()),
                       [0x08, 0x08,                                   // ir_version 8
                        0x12, 0x03, 0x6D, 0x70, 0x71,                 // producer_name "mpq"
                        0x3A, UInt8(graphBytes.count)] + graphBytes   // graph (field 7)
                       + [0x42, 0x04, 0x0A, 0x00, 0x10, 0x11]         // opset_import {domain "", version 17}
                       + [0x72, 0x05, 0x0A, 0x01, 0x6B, 0x12, 0x00])  // metadata_props (field 14) {k, ""}
    }
}
