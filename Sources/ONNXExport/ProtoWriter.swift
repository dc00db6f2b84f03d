import Foundation

/// A protocol-buffers message that can write itself (encoding only: mpq writes ONNX, it never reads it).
protocol ProtoMessage {
    /// Appends the message's fields, in field-number order, to `writer`.
    func encode(to writer: inout ProtoWriter)
}

extension ProtoMessage {
    /// The message's wire-format bytes.
    func serialized() -> Data {
        var writer = ProtoWriter()
        encode(to: &writer)
        return writer.data
    }
}

/// The protobuf wire format, the part ONNX needs (protobuf.dev/programming-guides/encoding): base-128 varints,
/// a tag `(field << 3) | wire type` before each field, length-delimited strings, bytes and nested messages,
/// packed repeated scalars, little-endian fixed32 floats. No zigzag (ONNX has no sint fields). Negative int32
/// and int64 values are varints of their 64-bit two's complement (ten bytes), as the format specifies.
struct ProtoWriter {
    enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    private(set) var data = Data()

    // MARK: Primitives

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            data.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        data.append(UInt8(v))
    }

    mutating func tag(_ field: Int, _ wire: WireType) {
        precondition(field >= 1 && field < 1 << 29, "protobuf field numbers are 1...2^29-1")
        varint(UInt64(field) << 3 | UInt64(wire.rawValue))
    }

    /// Number of bytes `varint(value)` writes.
    static func varintSize(_ value: UInt64) -> Int {
        var n = 1, v = value
        while v >= 0x80 {
            n += 1
            v >>= 7
        }
        return n
    }

    // MARK: Fields

    /// An `int64` (or `int32`, enum) field: a varint of the 64-bit two's complement.
    mutating func int64(_ field: Int, _ value: Int64) {
        tag(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// A `float` field: fixed32, IEEE 754 little-endian.
    mutating func float(_ field: Int, _ value: Float) {
        tag(field, .fixed32)
        fixed32(value.bitPattern)
    }

    private mutating func fixed32(_ bits: UInt32) {
        withUnsafeBytes(of: bits.littleEndian) { data.append(contentsOf: $0) }
    }

    /// A `bytes` field.
    mutating func bytes(_ field: Int, _ value: Data) {
        tag(field, .lengthDelimited)
        varint(UInt64(value.count))
        data.append(value)
    }

    /// A `string` field (UTF-8).
    mutating func string(_ field: Int, _ value: String) {
        bytes(field, Data(value.utf8))
    }

    /// An embedded message field: its bytes, length-delimited.
    mutating func message(_ field: Int, _ value: some ProtoMessage) {
        bytes(field, value.serialized())
    }

    /// A repeated `int64` field, packed (one length-delimited run of varints). Nothing for an empty array:
    /// an absent repeated field is an empty one.
    mutating func packedInt64(_ field: Int, _ values: [Int64]) {
        guard !values.isEmpty else { return }
        tag(field, .lengthDelimited)
        varint(UInt64(values.reduce(0) { $0 + Self.varintSize(UInt64(bitPattern: $1)) }))
        for v in values { varint(UInt64(bitPattern: v)) }
    }

    /// A repeated `float` field, packed (4 bytes each).
    mutating func packedFloat(_ field: Int, _ values: [Float]) {
        guard !values.isEmpty else { return }
        tag(field, .lengthDelimited)
        varint(UInt64(4 * values.count))
        for v in values { fixed32(v.bitPattern) }
    }
}
