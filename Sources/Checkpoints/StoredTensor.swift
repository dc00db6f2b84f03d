import Foundation

/// A tensor read from (or to be written to) a checkpoint: dtype, shape and its elements as raw little-endian
/// bytes in contiguous row-major order (last axis fastest), whatever view the file stored.
public struct StoredTensor: Sendable, Equatable {
    public let dtype: TensorDType
    /// Row-major shape; `[]` is a scalar (one element).
    public let shape: [Int]
    /// `count * dtype.byteSize` bytes, little-endian, row-major.
    public let data: Data

    /// Number of elements (product of `shape`; 1 for a scalar).
    public var count: Int { shape.reduce(1, *) }
    /// Size of the element data in bytes.
    public var byteCount: Int { data.count }

    /// Wraps raw little-endian row-major bytes.
    /// - Throws: `CheckpointError.malformedTensor` (key `?`) when the byte count does not match the shape.
    public init(dtype: TensorDType, shape: [Int], data: Data) throws {
        guard let expected = Self.byteCount(shape: shape, dtype: dtype), expected == data.count else {
            throw CheckpointError.malformedTensor(file: "", key: "",
                                                  problem: "\(data.count) bytes do not hold shape \(shape) of \(dtype.rawValue)")
        }
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    /// Trusted initialiser for readers that already validated the size.
    init(validated dtype: TensorDType, shape: [Int], data: Data) {
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    /// Bytes needed for `shape` of `dtype`, or `nil` on a negative dimension or overflow.
    static func byteCount(shape: [Int], dtype: TensorDType) -> Int? {
        var n = dtype.byteSize
        for d in shape {
            guard d >= 0 else { return nil }
            let (m, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            n = m
        }
        return n
    }

    // MARK: Building tensors from Swift arrays

    /// A tensor from floats, stored as `dtype` (float32 by default; float16/bfloat16 round to nearest even;
    /// float64 widens). `floats.count` must equal the shape's element count.
    public init(floats: [Float], shape: [Int], as dtype: TensorDType = .float32) {
        precondition(floats.count == shape.reduce(1, *), "element count \(floats.count) does not match shape \(shape)")
        precondition(dtype.isFloatingPoint, "init(floats:) stores float32, float16, bfloat16 or float64, not \(dtype)")
        var data: Data
        switch dtype {
        case .float32: data = floats.withUnsafeBytes { Data($0) }
        case .float16: data = floats.map { HalfPrecision.half(fromFloat: $0) }.withUnsafeBytes { Data($0) }
        case .bfloat16: data = floats.map { HalfPrecision.bfloat16(fromFloat: $0) }.withUnsafeBytes { Data($0) }
        case .float64: data = floats.map { Double($0) }.withUnsafeBytes { Data($0) }
        case .int64, .int32, .int8, .uint8, .bool: data = Data()  // excluded by the precondition above
        }
        self.init(validated: dtype, shape: shape, data: Self.littleEndian(data, width: dtype.byteSize))
    }

    public init(int8s: [Int8], shape: [Int]) {
        precondition(int8s.count == shape.reduce(1, *), "element count \(int8s.count) does not match shape \(shape)")
        self.init(validated: .int8, shape: shape, data: int8s.withUnsafeBytes { Data($0) })
    }

    public init(uint8s: [UInt8], shape: [Int]) {
        precondition(uint8s.count == shape.reduce(1, *), "element count \(uint8s.count) does not match shape \(shape)")
        self.init(validated: .uint8, shape: shape, data: Data(uint8s))
    }

    public init(int32s: [Int32], shape: [Int]) {
        precondition(int32s.count == shape.reduce(1, *), "element count \(int32s.count) does not match shape \(shape)")
        self.init(validated: .int32, shape: shape,
                  data: Self.littleEndian(int32s.withUnsafeBytes { Data($0) }, width: 4))
    }

    public init(int64s: [Int64], shape: [Int]) {
        precondition(int64s.count == shape.reduce(1, *), "element count \(int64s.count) does not match shape \(shape)")
        self.init(validated: .int64, shape: shape,
                  data: Self.littleEndian(int64s.withUnsafeBytes { Data($0) }, width: 8))
    }

    public init(bools: [Bool], shape: [Int]) {
        precondition(bools.count == shape.reduce(1, *), "element count \(bools.count) does not match shape \(shape)")
        self.init(validated: .bool, shape: shape, data: Data(bools.map { $0 ? 1 : 0 }))
    }

    /// Files are little-endian; on a big-endian host swap each element (no-op on every current Swift host).
    static func littleEndian(_ data: Data, width: Int) -> Data {
        guard 1.bigEndian == 1, width > 1 else { return data }
        var swapped = data
        swapped.withUnsafeMutableBytes { raw in
            for start in stride(from: 0, to: raw.count, by: width) {
                var i = start, j = start + width - 1
                while i < j { raw.swapAt(i, j); i += 1; j -= 1 }
            }
        }
        return swapped
    }
}
